//! ovn-vpcd: Kube-OVN's tenant VPC networking for OVN, as a standalone daemon.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod config;
pub mod daemon;
pub mod hash;
pub mod ipam;
pub mod kinds;
pub mod kube;
pub mod mac;
pub mod model;
pub mod nb;
pub mod ovsdb;
pub mod reconcile;
pub mod testbed;
