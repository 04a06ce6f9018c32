//! What a Vpc's `status` shows besides the conditions every status carries
//! (`kube::status`): its router, its subnets, whether the router exists.
//! Pure.

use serde_json::{Map, Value as Json};

use crate::model::validate::{Model, Subnet};

/// Kube-OVN's `VpcStatus` fields that mean something here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VpcFields {
    /// The VPC's logical router exists in the northbound database.
    pub standby: bool,
    /// Name of the OVN logical router (the VPC's name, as Kube-OVN).
    pub router: String,
    /// The VPC's OVN subnets, by name.
    pub subnets: Vec<String>,
    /// The subnet with `spec.default`, or "".
    pub default_logical_switch: String,
    pub enable_external: bool,
}

impl VpcFields {
    /// From the validated model. `standby`: the router exists in the NB.
    pub fn of(model: &Model, vpc: &str, standby: bool) -> VpcFields {
        let subnets: Vec<&Subnet> = model.subnets_of(vpc).collect();
        VpcFields {
            standby,
            router: vpc.to_string(),
            subnets: subnets.iter().map(|s| s.name.clone()).collect(),
            default_logical_switch: subnets.iter().find(|s| s.spec.default).map(|s| s.name.clone()).unwrap_or_default(),
            enable_external: model.vpcs.get(vpc).is_some_and(|v| v.spec.enable_external),
        }
    }

    /// Its fields of Kube-OVN's `VpcStatus`, into `status`.
    pub fn insert_into(&self, out: &mut Map<String, Json>) {
        out.insert("standby".into(), self.standby.into());
        out.insert("default".into(), false.into());
        out.insert("router".into(), self.router.clone().into());
        out.insert("subnets".into(), self.subnets.clone().into());
        out.insert("defaultLogicalSwitch".into(), self.default_logical_switch.clone().into());
        out.insert("enableExternal".into(), self.enable_external.into());
    }
}
