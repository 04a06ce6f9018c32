//! Who an object is: the kinds the reconciler manages as a type (API
//! group/version, kind, REST path, scope), an object's identity, and the
//! owner reference every managed object carries.

use std::fmt;

use serde_json::{json, Value as Json};

/// The label every managed object carries, and the watches select on.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "ovn-vpcd";
/// `MANAGED_BY_KEY=MANAGED_BY`, as a label selector.
pub const MANAGED_BY_SELECTOR: &str = "app.kubernetes.io/managed-by=ovn-vpcd";

/// A kind of object the reconciler creates. Adding one is a variant here;
/// the compiler names every `match` that must learn it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    ConfigMap,
    Deployment,
    StatefulSet,
    ServiceAccount,
    Role,
    RoleBinding,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::ConfigMap,
        ObjectKind::Deployment,
        ObjectKind::StatefulSet,
        ObjectKind::ServiceAccount,
        ObjectKind::Role,
        ObjectKind::RoleBinding,
    ];

    /// `apiVersion` as objects spell it.
    pub fn api_version(self) -> &'static str {
        match self {
            ObjectKind::ConfigMap | ObjectKind::ServiceAccount => "v1",
            ObjectKind::Deployment | ObjectKind::StatefulSet => "apps/v1",
            ObjectKind::Role | ObjectKind::RoleBinding => "rbac.authorization.k8s.io/v1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            ObjectKind::ConfigMap => "ConfigMap",
            ObjectKind::Deployment => "Deployment",
            ObjectKind::StatefulSet => "StatefulSet",
            ObjectKind::ServiceAccount => "ServiceAccount",
            ObjectKind::Role => "Role",
            ObjectKind::RoleBinding => "RoleBinding",
        }
    }

    /// The resource name in REST paths.
    pub fn plural(self) -> &'static str {
        match self {
            ObjectKind::ConfigMap => "configmaps",
            ObjectKind::Deployment => "deployments",
            ObjectKind::StatefulSet => "statefulsets",
            ObjectKind::ServiceAccount => "serviceaccounts",
            ObjectKind::Role => "roles",
            ObjectKind::RoleBinding => "rolebindings",
        }
    }

    pub fn namespaced(self) -> bool {
        match self {
            ObjectKind::ConfigMap
            | ObjectKind::Deployment
            | ObjectKind::StatefulSet
            | ObjectKind::ServiceAccount
            | ObjectKind::Role
            | ObjectKind::RoleBinding => true,
        }
    }

    /// `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
    fn api_root(self) -> String {
        match self.api_version().split_once('/') {
            None => format!("/api/{}", self.api_version()),
            Some(_) => format!("/apis/{}", self.api_version()),
        }
    }

    /// Every object of the kind, in all namespaces (what the watch reads).
    pub fn all_path(self) -> String {
        format!("{}/{}", self.api_root(), self.plural())
    }

    /// The collection objects of the kind in `namespace` are created in.
    pub fn collection_path(self, namespace: &str) -> String {
        if self.namespaced() {
            format!("{}/namespaces/{namespace}/{}", self.api_root(), self.plural())
        } else {
            self.all_path()
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// One object: kind, namespace ("" for a cluster-scoped kind), name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub kind: ObjectKind,
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    pub fn new(kind: ObjectKind, namespace: &str, name: &str) -> ObjectId {
        ObjectId { kind, namespace: namespace.into(), name: name.into() }
    }

    /// The identity of `object` as a watch of `kind` delivered it.
    pub fn of(kind: ObjectKind, object: &Json) -> Option<ObjectId> {
        let md = object.get("metadata")?;
        let name = md.get("name").and_then(Json::as_str)?;
        let namespace = md.get("namespace").and_then(Json::as_str).unwrap_or("");
        Some(ObjectId::new(kind, namespace, name))
    }

    pub fn collection_path(&self) -> String {
        self.kind.collection_path(&self.namespace)
    }

    pub fn path(&self) -> String {
        format!("{}/{}", self.collection_path(), self.name)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// A kind of resource whose objects own managed objects (e.g. a
/// VpcNatGateway). The API group is what counts, not the version: an owner
/// reference written through `v1beta1` names the same owner as one through `v1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerKind {
    pub group: String,
    pub kind: String,
}

impl OwnerKind {
    pub fn new(group: &str, kind: &str) -> OwnerKind {
        OwnerKind { group: group.into(), kind: kind.into() }
    }

    /// Whether `apiVersion` + `kind` (of an owner reference) are this kind.
    pub fn names(&self, api_version: &str, kind: &str) -> bool {
        group_of(api_version) == self.group && kind == self.kind
    }
}

/// The group of an `apiVersion` ("" for the core group's `v1`).
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// The resource a managed object belongs to: its controller owner
/// reference. `namespace` is the owner's (`None` for a cluster-scoped
/// owner); Kubernetes allows a namespaced owner only in its own namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub namespace: Option<String>,
}

impl OwnerRef {
    /// The owner reference of the object `owner` (its apiVersion, kind and metadata).
    pub fn of(owner: &Json) -> Option<OwnerRef> {
        let s = |p: &str| owner.pointer(p).and_then(Json::as_str).map(str::to_string);
        Some(OwnerRef {
            api_version: s("/apiVersion")?,
            kind: s("/kind")?,
            name: s("/metadata/name")?,
            uid: s("/metadata/uid")?,
            namespace: s("/metadata/namespace").filter(|n| !n.is_empty()),
        })
    }

    pub fn owner_kind(&self) -> OwnerKind {
        OwnerKind::new(group_of(&self.api_version), &self.kind)
    }

    /// As it is written in `metadata.ownerReferences`: the controller, and
    /// blocking a foreground deletion of the owner until it is gone.
    pub fn to_json(&self) -> Json {
        json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        })
    }

    /// Whether `reference` (an element of `ownerReferences`) is this one.
    pub fn is(&self, reference: &Json) -> bool {
        let s = |k: &str| reference.get(k).and_then(Json::as_str).unwrap_or("");
        s("uid") == self.uid && s("kind") == self.kind && s("name") == self.name && s("apiVersion") == self.api_version
    }
}

impl fmt::Display for OwnerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// Who owns a desired object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A resource of a kind the reconciler renders from.
    Resource(OwnerRef),
    /// The anchor of the object's namespace (`anchor.rs`): an object
    /// rendered from the TOML, which no resource holds. Resolved by the
    /// reconciler to [`Owner::Anchored`] once the anchor exists.
    Anchor,
    /// The anchor of the object's namespace, by its reference.
    Anchored(OwnerRef),
    /// None: the anchor itself, and nothing else.
    None,
}

impl Owner {
    /// The controller reference it is written with, once known.
    pub fn reference(&self) -> Option<&OwnerRef> {
        match self {
            Owner::Resource(r) | Owner::Anchored(r) => Some(r),
            Owner::Anchor | Owner::None => None,
        }
    }
}

impl From<OwnerRef> for Owner {
    fn from(r: OwnerRef) -> Owner {
        Owner::Resource(r)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Resource(r) => r.fmt(f),
            Owner::Anchor | Owner::Anchored(_) => f.write_str("the anchor ConfigMap"),
            Owner::None => f.write_str("no owner"),
        }
    }
}

/// The controller reference of `object` (`controller: true`), if any.
pub fn controller_of(object: &Json) -> Option<&Json> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Json::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Json::as_bool) == Some(true))
}

/// Whether `object` carries `app.kubernetes.io/managed-by: ovn-vpcd`.
pub fn has_managed_by(object: &Json) -> bool {
    object.pointer("/metadata/labels").and_then(|l| l.get(MANAGED_BY_KEY)).and_then(Json::as_str) == Some(MANAGED_BY)
}
