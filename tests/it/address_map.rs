//! The address map: every address Sentinel reports goes through it. Here a TCP
//! proxy stands for a NAT: the map sends the client to the proxy instead of the
//! address Sentinel announces.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use disredis::{DisredisClient, NodeAddr};
use redis::AsyncCommands;
use tokio::net::{TcpListener, TcpStream};

use crate::support::{Spec, Topology};

/// Forwards every connection to `target`; counts the bytes clients send through
/// it (requests, not connections: the client keeps its Sentinel connections, so
/// a later request may reuse one opened earlier).
async fn proxy(target: String) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (target, seen) = (target.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(&target).await else { return };
                let (mut from_client, mut to_client) = inbound.into_split();
                let (mut from_target, mut to_target) = outbound.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut from_target, &mut to_client).await });
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                    seen.fetch_add(n, Ordering::SeqCst);
                    if to_target.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn masters_and_learned_sentinels_go_through_the_map() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let master = topo.master_addr(&names[0]);
    let sentinels = topo.sentinel_addrs();
    let (master_proxy, master_hits) = proxy(master.clone()).await;
    let (sentinel_proxy, sentinel_hits) = proxy(sentinels[1].clone()).await;
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
    assert!(master_hits.load(Ordering::SeqCst) >= 1);

    // With the configured Sentinel gone, a re-resolve must use the learned one,
    // which is only reachable through the map.
    topo.kill(&sentinels[0]);
    let _: i64 =
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query(&mut topo.conn(&master)).unwrap();
    let before = sentinel_hits.load(Ordering::SeqCst);
    con.set::<_, _, ()>(&key, "again").await.unwrap();
    let v: String = con.get(&key).await.unwrap();
    assert_eq!(v, "again");
    assert!(sentinel_hits.load(Ordering::SeqCst) > before, "the learned Sentinel was asked through the map");
}
