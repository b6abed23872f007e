//! The latency-sensitive embedder: a small HTTP/1.1 server on 127.0.0.1
//! whose requests are handled on the pool. The example then drives itself
//! with a bounded load from client threads (keep-alive connections, one
//! request in flight per connection) and prints throughput and latency
//! percentiles.
//!
//! Requests are parsed with `httparse`. A connection thread reads and
//! parses, submits the work with `submit_tracked`, waits on the job's
//! handle, and writes the response itself: each answer goes back to the
//! connection that asked, with several connections in flight at once.
//!
//! Run: `cargo run --release --example http_server [requests] [connections]`

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use corepool::{IdlePolicy, Job, Pool};

/// A parsed request handed to the pool.
struct Request {
    /// `n` from `/work?n=...`: how many hash rounds to do.
    rounds: u32,
    seed: u64,
}

/// The work of one request: FNV-1a rounds over its seed.
fn work(job: &Job<Request>) -> u64 {
    let req = job.data();
    let mut h: u64 = 0xcbf29ce484222325;
    for i in 0..req.rounds as u64 {
        h ^= i ^ req.seed;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn write_response(buf: &mut [u8], status: &str, body: &str) -> usize {
    let mut cur = std::io::Cursor::new(buf);
    write!(
        cur,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    )
    .expect("response fits the buffer");
    cur.position() as usize
}

/// Reads requests from one connection, runs each on the pool, and answers
/// it from this thread once its handle has the result.
fn serve_connection(pool: Arc<Pool<Request, u64, Infallible>>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut conn = stream;
    let mut buf = vec![0u8; 4096];
    let mut out = [0u8; 256];
    let mut filled = 0;
    let mut seed = 0u64;
    loop {
        let n = match conn.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut headers);
            let (consumed, rounds) = match req.parse(&buf[..filled]) {
                Ok(httparse::Status::Complete(len)) => {
                    let rounds: Option<u32> = req
                        .path
                        .and_then(|p| p.strip_prefix("/work?n="))
                        .and_then(|n| n.parse().ok());
                    (len, rounds)
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => (filled, None),
            };
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
            let len = match rounds {
                Some(rounds) => {
                    seed += 1;
                    let Ok(handle) = pool.submit_tracked(Job::new(Request { rounds, seed })) else {
                        return; // shutting down
                    };
                    match handle.wait().outcome {
                        Ok(h) => write_response(&mut out, "200 OK", &format!("{h:016x}\n")),
                        // A panic or a deadline: the pool answers for the job.
                        Err(e) => {
                            write_response(&mut out, "500 Internal Server Error", &format!("{e}\n"))
                        }
                    }
                }
                None => write_response(&mut out, "400 Bad Request", "bad request\n"),
            };
            if conn.write_all(&out[..len]).is_err() {
                return;
            }
            if filled == 0 {
                break;
            }
        }
    }
}

/// One client connection: `count` requests, one at a time; returns latencies.
fn client(addr: std::net::SocketAddr, count: usize, rounds: u32) -> Vec<Duration> {
    let mut s = TcpStream::connect(addr).expect("connect to our own server");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET /work?n={rounds} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut lat = Vec::with_capacity(count);
    let mut buf = [0u8; 1024];
    for _ in 0..count {
        let t = Instant::now();
        s.write_all(req.as_bytes()).unwrap();
        // Read one full response (headers + Content-Length body).
        let mut got = 0;
        loop {
            let n = s.read(&mut buf[got..]).expect("response before timeout");
            assert!(n > 0, "server closed the connection");
            got += n;
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut resp = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(hlen)) = resp.parse(&buf[..got]) {
                assert_eq!(resp.code, Some(200));
                let len: usize = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                    .expect("content-length");
                if got >= hlen + len {
                    break;
                }
            }
        }
        lat.push(t.elapsed());
    }
    lat
}

fn main() {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40_000);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let rounds = 200;

    let pool = Arc::new(
        Pool::builder()
            .workers(2)
            // Timing on: the pool's queue-wait and run-time figures below.
            .timing(true)
            .idle(IdlePolicy::SpinThenPark)
            .build_infallible(|job: &Job<Request>, _ctx| work(job))
            .expect("valid config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    println!("serving on http://{addr} with {} workers", pool.workers());

    let acceptor = {
        let pool = pool.clone();
        thread::spawn(move || {
            for stream in listener.incoming().take(connections) {
                let pool = pool.clone();
                let stream = stream.expect("accept");
                thread::spawn(move || serve_connection(pool, stream));
            }
        })
    };

    let per_conn = requests / connections;
    let start = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|_| thread::spawn(move || client(addr, per_conn, rounds)))
        .collect();
    let mut lat: Vec<Duration> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client finished"))
        .collect();
    let elapsed = start.elapsed();
    acceptor.join().unwrap();
    lat.sort();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!(
        "{} requests over {connections} keep-alive connections in {elapsed:.2?}: {:.0} req/s",
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency p50 {:.1?}  p99 {:.1?}  p99.9 {:.1?}  max {:.1?}",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        lat[lat.len() - 1]
    );
    let m = pool.metrics();
    println!(
        "pool: completed {}  queue wait p50 {:?} p99 {:?}  run p50 {:?} p99 {:?}",
        m.completed, m.queue_wait.p50, m.queue_wait.p99, m.run_time.p50, m.run_time.p99
    );
}
