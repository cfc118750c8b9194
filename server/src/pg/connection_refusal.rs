//! Refusing a connection in the protocol, so the client reports why ("sorry, too many clients
//! already", SQLSTATE 53300) instead of a bare "connection closed". As PostgreSQL does, the
//! refusal is a FATAL ErrorResponse sent after the client's startup packet; an SSL or GSS
//! encryption request first gets "N" (continue in plain text) so the client goes on to send it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A refused client gets this long to send its startup packet.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Startup packets are small; anything longer is not worth reading.
const LONGEST_STARTUP_PACKET: usize = 10_000;
/// The request codes that precede the startup packet.
const SSL_REQUEST: u32 = 80_877_103;
const GSS_ENCRYPTION_REQUEST: u32 = 80_877_104;

/// Read the client's startup (answering encryption requests with "N"), send a FATAL error with
/// `code` and `message`, and close.
pub async fn refuse(mut socket: TcpStream, code: &'static str, message: &'static str) {
    let exchange = async {
        loop {
            let length = socket.read_u32().await? as usize;
            if !(8..=LONGEST_STARTUP_PACKET).contains(&length) {
                break;
            }
            let mut body = vec![0_u8; length - 4];
            socket.read_exact(&mut body).await?;
            let request = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            if request == SSL_REQUEST || request == GSS_ENCRYPTION_REQUEST {
                socket.write_all(b"N").await?;
                continue;
            }
            break;
        }
        socket.write_all(&error_response(code, message)).await?;
        socket.shutdown().await
    };
    if let Err(error) = tokio::time::timeout(REFUSAL_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    {
        tracing::debug!(%error, "refused client went away");
    }
}

/// An ErrorResponse message: severity, code and message fields.
pub fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut packet = vec![b'E'];
    // The fields are a few dozen bytes: the length always fits.
    let length = u32::try_from(fields.len() + 4).unwrap_or(u32::MAX);
    packet.extend_from_slice(&length.to_be_bytes());
    packet.extend_from_slice(&fields);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_is_a_well_formed_message() {
        let packet = error_response("53300", "sorry, too many clients already");
        assert_eq!(packet[0], b'E');
        let length = u32::from_be_bytes([packet[1], packet[2], packet[3], packet[4]]) as usize;
        assert_eq!(length, packet.len() - 1);
        let text = String::from_utf8_lossy(&packet[5..]);
        assert!(
            text.contains("SFATAL\0") && text.contains("C53300\0"),
            "{text}"
        );
        assert_eq!(*packet.last().unwrap(), 0);
    }
}
