//! Where InvokeEndpoint sends a request: per endpoint, its variants with their weights and the
//! loopback ports of their serving containers. Kept in memory (rebuilt from Docker at startup);
//! a request picks a variant by weight (or the TargetVariant) and an instance round robin.
//! A picked instance counts the request as in flight until its answer has been sent, so that
//! DeleteEndpoint, UpdateEndpoint and scaling in retire an instance, let what it is answering
//! finish, and only then stop its containers.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

/// One serving container: its id, its loopback port (changes when it is restarted) and the log
/// stream it writes to.
#[derive(Debug)]
pub struct Member {
    pub container_id: String,
    pub container_name: String,
    pub port: AtomicU16,
    pub log_stream: String,
}

/// One instance of a variant: its containers, called in order (one, or an inference pipeline's),
/// whether it is serving (false while a dead container is being restarted), whether it is
/// retired (being taken away: it takes no new request, ever again) and how many requests it is
/// answering.
#[derive(Debug)]
pub struct Instance {
    pub members: Vec<Member>,
    pub up: AtomicBool,
    retired: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Instance {
    pub fn new(members: Vec<Member>) -> Instance {
        Instance {
            members,
            up: AtomicBool::new(true),
            retired: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed) && !self.retired.load(Ordering::SeqCst)
    }

    /// Counts a request in; None once the instance is retired. The count goes up before the
    /// retired flag is read and `drain` sets the flag before it reads the count, so a request
    /// either sees the flag or is seen by `drain`.
    pub fn enter(self: &Arc<Self>) -> Option<InFlight> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self.clone());
        if self.retired.load(Ordering::SeqCst) {
            return None; // the guard's drop counts the request out again
        }
        Some(guard)
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Retires the instance and waits, at most `limit`, until the requests it is answering are
    /// done. Returns whether it drained (false: `limit` passed with requests still in flight).
    pub async fn drain(&self, limit: Duration) -> bool {
        self.retired.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.in_flight.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// A request in flight on an instance (see `Instance::enter`); dropping it counts it out. The
/// runtime api holds it until the answer's body has been sent.
#[derive(Debug)]
pub struct InFlight(Arc<Instance>);

impl Deref for InFlight {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[derive(Debug)]
pub struct VariantRoute {
    pub name: String,
    pub weight: f64,
    pub instances: Vec<Arc<Instance>>,
    next: AtomicUsize,
}

impl VariantRoute {
    pub fn new(name: String, weight: f64, instances: Vec<Arc<Instance>>) -> VariantRoute {
        VariantRoute {
            name,
            weight,
            instances,
            next: AtomicUsize::new(0),
        }
    }

    /// The next serving instance, round robin, with the request counted in.
    fn instance(&self) -> Option<InFlight> {
        let n = self.instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| &self.instances[(start + k) % n])
            .filter(|i| i.is_up())
            .find_map(Instance::enter)
    }

    pub fn serving(&self) -> usize {
        self.instances.iter().filter(|i| i.is_up()).count()
    }
}

#[derive(Debug)]
pub struct EndpointRoute {
    pub variants: Vec<VariantRoute>,
    /// The endpoint only hosts capacity for inference components (its variants name no model):
    /// every invocation names one.
    pub hosts_components: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PickError {
    UnknownVariant,
    NoInstance,
}

impl EndpointRoute {
    /// The variant (TargetVariant, or by weight with `roll` uniform in [0, 1)) and its next instance.
    pub fn pick(
        &self,
        target: Option<&str>,
        roll: f64,
    ) -> Result<(&VariantRoute, InFlight), PickError> {
        let variant = match target {
            Some(t) => self
                .variants
                .iter()
                .find(|v| v.name == t)
                .ok_or(PickError::UnknownVariant)?,
            None => {
                let total: f64 = self.variants.iter().map(|v| v.weight.max(0.0)).sum();
                let mut point = roll * total;
                let mut chosen = self.variants.first().ok_or(PickError::NoInstance)?;
                if total > 0.0 {
                    for v in &self.variants {
                        if point < v.weight.max(0.0) {
                            chosen = v;
                            break;
                        }
                        point -= v.weight.max(0.0);
                    }
                }
                chosen
            }
        };
        let instance = variant.instance().ok_or(PickError::NoInstance)?;
        Ok((variant, instance))
    }
}

/// Endpoint name (lowercase) → route; inference component name (lowercase) → the endpoint it
/// is on (lowercase) and its copies, as a route of one variant.
#[derive(Clone, Default)]
pub struct Routes {
    inner: Arc<RwLock<HashMap<String, Arc<EndpointRoute>>>>,
    components: Arc<RwLock<HashMap<String, ComponentRoute>>>,
}

/// A component's endpoint (lowercase) and its copies.
type ComponentRoute = (String, Arc<EndpointRoute>);

impl Routes {
    pub fn get(&self, endpoint: &str) -> Option<Arc<EndpointRoute>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&endpoint.to_ascii_lowercase())
            .cloned()
    }

    pub fn set(&self, endpoint: &str, route: EndpointRoute) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(endpoint.to_ascii_lowercase(), Arc::new(route));
    }

    pub fn remove(&self, endpoint: &str) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&endpoint.to_ascii_lowercase());
    }

    /// The copies of inference component `name`, if it serves on `endpoint`.
    pub fn component(&self, endpoint: &str, name: &str) -> Option<Arc<EndpointRoute>> {
        let map = self.components.read().unwrap_or_else(|e| e.into_inner());
        let (on, route) = map.get(&name.to_ascii_lowercase())?;
        on.eq_ignore_ascii_case(endpoint).then(|| route.clone())
    }

    pub fn set_component(&self, name: &str, endpoint: &str, route: EndpointRoute) {
        self.components
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                name.to_ascii_lowercase(),
                (endpoint.to_ascii_lowercase(), Arc::new(route)),
            );
    }

    pub fn remove_component(&self, name: &str) {
        self.components
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(port: u16) -> Arc<Instance> {
        Arc::new(Instance::new(vec![Member {
            container_id: format!("c{port}"),
            container_name: format!("n{port}"),
            port: AtomicU16::new(port),
            log_stream: String::new(),
        }]))
    }

    fn port(i: &Instance) -> u16 {
        i.members[0].port.load(Ordering::Relaxed)
    }

    #[test]
    fn weights_split_traffic_and_instances_take_turns() {
        let r = EndpointRoute {
            variants: vec![
                VariantRoute::new("a".into(), 3.0, vec![inst(1), inst(2)]),
                VariantRoute::new("b".into(), 1.0, vec![inst(3)]),
            ],
            hosts_components: false,
        };
        assert_eq!(r.pick(None, 0.0).expect("a").0.name, "a");
        assert_eq!(r.pick(None, 0.74).expect("a").0.name, "a");
        assert_eq!(r.pick(None, 0.76).expect("b").0.name, "b");
        let ports: Vec<u16> = (0..4)
            .map(|_| port(&r.pick(Some("a"), 0.0).expect("a").1))
            .collect();
        assert_eq!(ports, [1, 2, 1, 2]);
        // an instance being restarted is skipped
        r.variants[0].instances[0]
            .up
            .store(false, Ordering::Relaxed);
        let ports: Vec<u16> = (0..3)
            .map(|_| port(&r.pick(Some("a"), 0.0).expect("a").1))
            .collect();
        assert_eq!(ports, [2, 2, 2]);
        assert_eq!(
            r.pick(Some("zzz"), 0.0).err(),
            Some(PickError::UnknownVariant)
        );
    }

    #[test]
    fn zero_weights_still_route_somewhere() {
        let r = EndpointRoute {
            variants: vec![VariantRoute::new("a".into(), 0.0, vec![inst(1)])],
            hosts_components: false,
        };
        assert_eq!(port(&r.pick(None, 0.5).expect("a").1), 1);
    }

    #[tokio::test]
    async fn a_retired_instance_takes_no_request_and_drains_what_it_answers() {
        let r = EndpointRoute {
            variants: vec![VariantRoute::new("a".into(), 1.0, vec![inst(1)])],
            hosts_components: false,
        };
        let instance = r.variants[0].instances[0].clone();
        let held = r.pick(None, 0.0).expect("a").1;
        assert_eq!(instance.in_flight(), 1);
        let draining = {
            let instance = instance.clone();
            tokio::spawn(async move { instance.drain(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !draining.is_finished(),
            "drain waits for the request in flight"
        );
        assert_eq!(r.pick(None, 0.0).err(), Some(PickError::NoInstance));
        drop(held);
        assert!(draining.await.expect("drain"));
        assert_eq!(instance.in_flight(), 0);
        // a drain that runs out of time says so
        let held = instance.clone();
        held.in_flight.fetch_add(1, Ordering::SeqCst);
        assert!(!instance.drain(Duration::from_millis(20)).await);
    }

    #[test]
    fn a_component_is_found_only_on_its_own_endpoint_and_its_copies_take_turns() {
        let routes = Routes::default();
        let copies = EndpointRoute {
            variants: vec![VariantRoute::new(
                "AllTraffic".into(),
                1.0,
                vec![inst(7), inst(8)],
            )],
            hosts_components: false,
        };
        routes.set_component("IC-A", "Ep", copies);
        assert!(routes.component("other", "ic-a").is_none());
        assert!(routes.component("ep", "ic-b").is_none());
        let route = routes.component("EP", "ic-a").expect("found");
        let ports: Vec<u16> = (0..4)
            .map(|_| port(&route.pick(None, 0.9).expect("a copy").1))
            .collect();
        assert_eq!(ports, [7, 8, 7, 8]);
        routes.remove_component("ic-A");
        assert!(routes.component("ep", "ic-a").is_none());
    }
}
