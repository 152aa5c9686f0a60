//! The systems around a deployment that pilote talks to: the monitoring's Alertmanager
//! (silences) and the CMDB (inventory import).

pub mod alertmanager;
pub mod cmdb;
