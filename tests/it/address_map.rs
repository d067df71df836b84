//! The address map: every address Sentinel reports goes through it. Here a TCP
//! proxy stands for a NAT: the map sends the client to the proxy instead of the
//! address Sentinel announces.

use disredis::{DisredisClient, NodeAddr};
use redis::AsyncCommands;

use crate::support::proxy::Proxy;
use crate::support::{Spec, Topology};

/// A proxy in front of `target` (`127.0.0.1:PORT`) on a port the system picks;
/// it counts the bytes clients send through it (`Proxy::sent_to_node`).
fn proxy(target: &str) -> Proxy {
    let port = target.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).expect("127.0.0.1:PORT");
    Proxy::start(0, port).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn masters_and_learned_sentinels_go_through_the_map() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let master = topo.master_addr(&names[0]);
    let sentinels = topo.sentinel_addrs();
    let master_hits = proxy(&master);
    let sentinel_hits = proxy(&sentinels[1]);
    let (master_proxy, sentinel_proxy) = (master_hits.addr(), sentinel_hits.addr());
    let map = {
        let (master, master_proxy) = (master.clone(), master_proxy.clone());
        let (second, sentinel_proxy) = (sentinels[1].clone(), sentinel_proxy.clone());
        move |a: &NodeAddr| {
            let s = a.to_string();
            let to = if s == master {
                &master_proxy
            } else if s == second {
                &sentinel_proxy
            } else {
                return a.clone();
            };
            NodeAddr::parse(to).unwrap()
        }
    };
    // Only the first Sentinel is configured; the second is learned (and mapped).
    let client =
        DisredisClient::builder().sentinels([&sentinels[0]]).address_map(map).connect().await.unwrap();
    let shard = client.topology().shards.into_iter().find(|s| s.name == names[0]).unwrap();
    assert_eq!(shard.master.as_deref(), Some(master_proxy.as_str()));
    assert!(client.sentinels().contains(&sentinel_proxy), "{:?}", client.sentinels());
    assert!(!client.sentinels().contains(&sentinels[1]));

    let mut con = client.clone();
    let key = (0..).map(|i| format!("nat{i}")).find(|k| client.shard_for(k) == names[0]).unwrap();
    con.set::<_, _, ()>(&key, "via proxy").await.unwrap();
    let v: String = redis::Commands::get(&mut topo.conn(&master), &key).unwrap();
    assert_eq!(v, "via proxy");
    assert!(master_hits.sent_to_node() >= 1);

    // With the configured Sentinel gone, a re-resolve must use the learned one,
    // which is only reachable through the map.
    topo.kill(&sentinels[0]);
    let _: i64 =
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query(&mut topo.conn(&master)).unwrap();
    let before = sentinel_hits.sent_to_node();
    con.set::<_, _, ()>(&key, "again").await.unwrap();
    let v: String = con.get(&key).await.unwrap();
    assert_eq!(v, "again");
    assert!(sentinel_hits.sent_to_node() > before, "the learned Sentinel was asked through the map");
}
