//! What kube-controller-manager gives every namespace on a real cluster: the `kube-root-ca.crt`
//! ConfigMap (its root CA publisher; since 1.20) holding the CA that signed the API server's
//! certificate, and the `default` ServiceAccount (its service-account controller). Like those
//! controllers, only Active namespaces get them (a Terminating namespace is being emptied), and an
//! object that exists is left as it is: a scenario may give a namespace another CA (a rotated
//! kube-ca) or its own ServiceAccount. Runs after every write, walking the namespaces only when a
//! namespace, ConfigMap or ServiceAccount changed.

use serde_json::{Value, json};

use super::server::State;
use super::store::meta_str;

const NAMESPACES: &str = "/namespaces";
const CONFIGMAPS: &str = "/configmaps";
const SERVICEACCOUNTS: &str = "/serviceaccounts";
pub const ROOT_CA: &str = "kube-root-ca.crt";

fn relevant(res: &str) -> bool {
    matches!(res, NAMESPACES | CONFIGMAPS | SERVICEACCOUNTS)
}

/// Give every Active namespace its `kube-root-ca.crt` and `default` ServiceAccount where missing.
pub fn publish(st: &mut State) {
    if st.root_ca_pem.is_empty() {
        return;
    }
    let walk = st.publish_rv == 0
        || st.publish_rv < st.store.compacted()
        || st
            .store
            .changes_since_any(st.publish_rv)
            .iter()
            .any(|c| relevant(&c.res));
    if !walk {
        st.publish_rv = st.store.rv();
        return;
    }
    let active: Vec<String> = st
        .store
        .list(NAMESPACES, None)
        .filter(|n| {
            n.pointer("/metadata/deletionTimestamp")
                .is_none_or(Value::is_null)
        })
        .map(|n| meta_str(n, "name").to_string())
        .collect();
    for ns in active {
        if st.store.get(CONFIGMAPS, &ns, ROOT_CA).is_none() {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA, "namespace": ns},
                "data": {"ca.crt": st.root_ca_pem}});
            let _ = super::load::apply_direct(st, cm);
        }
        if st.store.get(SERVICEACCOUNTS, &ns, "default").is_none() {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns}});
            let _ = super::load::apply_direct(st, sa);
        }
    }
    st.publish_rv = st.store.rv();
}
