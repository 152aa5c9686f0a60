//! The systems around a deployment that pilote talks to: the monitoring's Alertmanager
//! (silences), the CMDB (inventory import) and webhooks (run and request events posted to
//! chat, Slack or Mattermost, or any HTTP receiver).

pub mod alertmanager;
pub mod cmdb;
pub mod webhooks;
