//! Subcommands of the `ovn-vpcd` binary.
pub mod nb;
