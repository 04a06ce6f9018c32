//! Subcommands of the `ovn-vpcd` binary.
pub mod gateway;
pub mod nb;
pub mod vpc;
