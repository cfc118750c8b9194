//! Arbitrary bytes from a client, decoded as the server decodes them in each connection state
//! (before SSL negotiation, awaiting startup, after login). Whatever the bytes, decoding must
//! return a message, "need more bytes" or an error: never panic, never loop without consuming.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgwire::messages::{DecodeContext, PgWireFrontendMessage, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    for (awaiting_ssl, awaiting_startup) in [(true, true), (false, true), (false, false)] {
        let mut context = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        context.awaiting_frontend_ssl = awaiting_ssl;
        context.awaiting_frontend_startup = awaiting_startup;
        let mut buffer = BytesMut::from(data);
        // Each decoded message consumes at least its header; a bound keeps a bug from hanging.
        for _ in 0..=data.len() {
            let before = buffer.len();
            match PgWireFrontendMessage::decode(&mut buffer, &context) {
                // Before SSL negotiation the decoder only peeks to decide whether an SSL request
                // comes first; the connection then moves on to awaiting the startup packet.
                Ok(Some(_)) if buffer.len() == before && context.awaiting_frontend_ssl => {
                    context.awaiting_frontend_ssl = false;
                }
                Ok(Some(_)) => {
                    assert!(buffer.len() < before, "a message was decoded from no bytes");
                    // After the first message the client is past startup, as on a connection.
                    context.awaiting_frontend_ssl = false;
                    context.awaiting_frontend_startup = false;
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
});
