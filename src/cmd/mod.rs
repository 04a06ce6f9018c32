//! Subcommands of the `ovn-vpcd` binary.
pub mod nb;
pub mod vpc;
