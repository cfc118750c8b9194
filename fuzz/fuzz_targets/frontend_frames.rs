//! Arbitrary bytes from a client, decoded as the server decodes them in each connection state
//! (before SSL negotiation, awaiting startup, after login). Whatever the bytes, decoding must
//! return a message, "need more bytes" or an error, never loop without consuming, and never
//! exhaust memory or time (libFuzzer's `-rss_limit_mb` and `-timeout`).
//!
//! pgwire 0.41.1 (pinned through datafusion-postgres) panics on some malformed messages: a
//! `Bind` or other message announcing more elements than it carries ("advance out of
//! bounds", "split_to out of bounds"), a length under 4 ("attempt to subtract with overflow").
//! Upstream fixed the element counts in pgwire PR #451, in a release this stack cannot take
//! yet. The server contains such a panic per connection (the client gets 08P01, its slot is
//! freed: `server/src/pg/panic_containment.rs`, tested in
//! `tests/tests/integration/panic_containment.rs`), so by default a decoder panic ends the
//! input, quietly, and the run goes on to find what containment would not cover: hangs,
//! runaway memory, messages decoded from no bytes.
//! `FRAMES_STRICT=1` makes a decoder panic a crash again (for the next pgwire upgrade).

#![no_main]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgwire::messages::{DecodeContext, PgWireFrontendMessage, ProtocolVersion};

static QUIET_PANICS: Once = Once::new();

fn strict() -> bool {
    std::env::var("FRAMES_STRICT").is_ok_and(|value| value == "1")
}

fuzz_target!(|data: &[u8]| {
    let strict = strict();
    if !strict {
        // libfuzzer-sys's hook aborts on any panic; decoder panics are contained instead.
        QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    }
    for (awaiting_ssl, awaiting_startup) in [(true, true), (false, true), (false, false)] {
        let mut context = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        context.awaiting_frontend_ssl = awaiting_ssl;
        context.awaiting_frontend_startup = awaiting_startup;
        let mut buffer = BytesMut::from(data);
        // Each decoded message consumes at least its header; a bound keeps a bug from hanging.
        for _ in 0..=data.len() {
            let before = buffer.len();
            let decoded = if strict {
                Ok(PgWireFrontendMessage::decode(&mut buffer, &context))
            } else {
                catch_unwind(AssertUnwindSafe(|| {
                    PgWireFrontendMessage::decode(&mut buffer, &context)
                }))
            };
            match decoded {
                // A contained decoder panic: the server would close this connection here.
                Err(_) => break,
                // Before SSL negotiation the decoder only peeks to decide whether an SSL request
                // comes first; the connection then moves on to awaiting the startup packet.
                Ok(Ok(Some(_))) if buffer.len() == before && context.awaiting_frontend_ssl => {
                    context.awaiting_frontend_ssl = false;
                }
                Ok(Ok(Some(_))) => {
                    if buffer.len() >= before {
                        // Not a panic: the quiet hook must not hide it.
                        eprintln!("a message was decoded from no bytes");
                        std::process::abort();
                    }
                    // After the first message the client is past startup, as on a connection.
                    context.awaiting_frontend_ssl = false;
                    context.awaiting_frontend_startup = false;
                }
                Ok(Ok(None) | Err(_)) => break,
            }
        }
    }
});
