//! pilote talking to the systems around it. `webhooks`: run and request events posted to
//! chat (Slack, Mattermost) or any HTTP receiver.

pub mod webhooks;
