//! A real SMTP server (the protocol lettre speaks, over TCP) that records every
//! accepted message. `fail_next` makes it answer the next messages' DATA with a
//! given reply code instead (4xx transient, 5xx permanent), without recording.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The body with quoted-printable soft line breaks and `=3D` undone,
    /// enough to find links and tokens in it.
    pub fn decoded(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

#[derive(Clone, Default)]
struct Shared {
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    failures: Arc<Mutex<VecDeque<u16>>>,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    shared: Shared,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let addr = listener.local_addr().expect("smtp addr");
        let shared = Shared::default();
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, s.clone()));
            }
        });
        Self { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.shared.mails.lock().expect("lock").clone()
    }

    pub fn mails_to(&self, to: &str) -> Vec<ReceivedMail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect()
    }

    pub fn fail_next(&self, code: u16, times: usize) {
        let mut f = self.shared.failures.lock().expect("lock");
        f.extend(std::iter::repeat_n(code, times));
    }
}

fn address(arg: &str) -> String {
    arg.split_once(':')
        .map(|(_, a)| a)
        .unwrap_or(arg)
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn session(stream: TcpStream, shared: Shared) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let _ = write.write_all(b"220 test-smtp ESMTP ready\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-test-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") {
            b"250 test-smtp\r\n"
        } else if upper.starts_with("MAIL FROM") {
            from = address(&line);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO") {
            to.push(address(&line));
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                data.push_str(
                    l.strip_prefix('.')
                        .filter(|_| l.starts_with(".."))
                        .unwrap_or(&l),
                );
            }
            let failure = shared.failures.lock().expect("lock").pop_front();
            match failure {
                Some(code) => {
                    let msg = format!(
                        "{code} {} simulated failure\r\n",
                        if code < 500 { "4.3.0" } else { "5.7.1" }
                    );
                    let _ = write.write_all(msg.as_bytes()).await;
                    continue;
                }
                None => {
                    shared.mails.lock().expect("lock").push(ReceivedMail {
                        from: from.clone(),
                        to: to.clone(),
                        data,
                    });
                    b"250 OK queued\r\n"
                }
            }
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 command not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
