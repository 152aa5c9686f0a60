//! Connections to the tools around a deployment: the monitoring's Alertmanager (silences).

pub mod alertmanager;
