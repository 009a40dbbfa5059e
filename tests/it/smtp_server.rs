//! An SMTP relay of the tests' own, for EMAIL channels: the RFC 5321
//! commands a submission client uses (EHLO/HELO, MAIL, RCPT, DATA with dot
//! transparency, RSET, NOOP, QUIT) on 127.0.0.1:0, without TLS or AUTH.
//! It keeps what it accepts and can answer the end of DATA with replies
//! given in advance (a 451 "try again later", a 554 refusal) the way a
//! relay under load or policy does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot transparency undone.
    pub data: String,
}

#[derive(Default)]
struct State {
    accepted: Vec<Mail>,
    /// Replies to the end of DATA, first to last; "250" once used up.
    replies: Vec<String>,
    /// Messages whose DATA was answered with something other than 250.
    refused: usize,
}

pub struct SmtpServer {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    /// `replies` answer the end of DATA of the first messages, e.g.
    /// `["451 4.3.0 Try again later"]`.
    pub async fn start(replies: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP server");
        let url = format!(
            "smtp://{}",
            listener.local_addr().expect("the SMTP server's address")
        );
        let state = Arc::new(Mutex::new(State {
            replies: replies.iter().map(|r| (*r).to_owned()).collect(),
            ..State::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, shared.clone()));
            }
        });
        SmtpServer { url, state }
    }

    pub fn accepted(&self) -> Vec<Mail> {
        self.state.lock().expect("state").accepted.clone()
    }

    pub fn refused(&self) -> usize {
        self.state.lock().expect("state").refused
    }

    /// Waits until `n` messages were accepted (and a little more, for extras).
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            if self.accepted().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.accepted()
    }
}

/// The address inside `MAIL FROM:<a> [params]` or `RCPT TO:<a>`.
fn path_of(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..]
        .find('>')
        .map_or(argument.len(), |i| start + i);
    argument[start..end].to_owned()
}

fn crlf(text: &str) -> Vec<u8> {
    format!("{text}\r\n").into_bytes()
}

async fn session(socket: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let _ = write
        .write_all(&crlf("220 smtp.test ESMTP drift-engine tests"))
        .await;
    let (mut from, mut to) = (None::<String>, Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let upper = command.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-smtp.test greets you\r\n250-8BITMIME\r\n250 SMTPUTF8".to_owned()
        } else if upper.starts_with("HELO") {
            "250 smtp.test".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(path_of(&command[10..]));
            to.clear();
            "250 2.1.0 OK".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 5.5.1 MAIL first".to_owned()
            } else {
                to.push(path_of(&command[8..]));
                "250 2.1.5 OK".to_owned()
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 5.5.1 RCPT first".to_owned()
            } else {
                let _ = write
                    .write_all(&crlf("354 End data with <CR><LF>.<CR><LF>"))
                    .await;
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Dot transparency (RFC 5321 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let mut s = state.lock().expect("state");
                let answer = if s.replies.is_empty() {
                    "250 2.0.0 queued".to_owned()
                } else {
                    s.replies.remove(0)
                };
                if answer.starts_with("250") {
                    s.accepted.push(Mail {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                    });
                } else {
                    s.refused += 1;
                    from = None;
                    to.clear();
                }
                answer
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 OK".to_owned()
        } else if upper.starts_with("NOOP") {
            "250 2.0.0 OK".to_owned()
        } else if upper == "QUIT" {
            let _ = write.write_all(&crlf("221 2.0.0 Bye")).await;
            return;
        } else {
            "502 5.5.2 Command not implemented".to_owned()
        };
        if write.write_all(&crlf(&answer)).await.is_err() {
            return;
        }
    }
}
