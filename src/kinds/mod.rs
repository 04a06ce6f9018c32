//! One home per kind: what ovn-vpcd knows about each kind of object it
//! reconciles lives in `kinds/<kind>/`, and only there:
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | the kind in the Kubernetes API: its REST path and scope |
//! | `spec.rs` | its spec type, as the CRD spells it (TOML and resource alike) |
//! | `validate.rs` | its own validation rules, each refusal naming its field (pure) |
//! | `rows.rs` | its NB rows, built from its validated object (pure) |
//! | `status.rs` | what its `status` shows beyond the shared conditions (pure) |
//!
//! A pod has no spec of ours to validate and no status of ours: its port
//! comes from the IPAM, its verdict goes into annotations (`pod/cni.rs`).
//!
//! What is shared lives apart from the homes: the list of kinds and an
//! object's identity (`model::object::{Kind, ObjectKey}`), the row
//! vocabulary every builder writes in (`nb::rows`: owned tables, tags, row
//! ids, parents, references), the order of the checks across kinds
//! (`model::validate`), the conditions every status carries
//! (`kube::status`). The layers dispatch to the homes with one exhaustive
//! `match` on [`Kind`](crate::model::object::Kind) each, so a new kind is a
//! new home plus a variant, and the compiler names every dispatch that must
//! handle it (ARCHITECTURE.md, "Adding a kind").

pub mod iptables_dnat_rule;
pub mod iptables_eip;
pub mod iptables_fip_rule;
pub mod iptables_snat_rule;
pub mod pod;
pub mod subnet;
pub mod vpc;
pub mod vpc_nat_gateway;
