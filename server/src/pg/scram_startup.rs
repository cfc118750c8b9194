//! SCRAM-SHA-256 password authentication (RFC 5802, RFC 7677) against PostgreSQL-format
//! verifiers, so the configuration never holds a password.
//!
//! pgwire's own SCRAM handler needs the salted password, which is as good as the password for
//! logging in; a PostgreSQL verifier (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`)
//! holds only hashes of it, so this handler runs the exchange itself: the client proves it knows
//! the key whose hash is `StoredKey`, and the server proves it holds `ServerKey`. Channel binding
//! (`-PLUS`) is not offered; clients that require it are refused by their own settings.
//!
//! A user that does not exist gets the same exchange with a throwaway verifier, so the answer
//! (`28P01 password authentication failed`) does not reveal which user names exist.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use datafusion_postgres::pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
    DefaultServerParameterProvider, StartupHandler,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use tokio::sync::Mutex;

use crate::scram_verifier::{verify_proof, Verifier, MECHANISM};

/// Backend process ids and cancel keys, shared by all connections so pids stay unique.
static PIDS: std::sync::LazyLock<RandomPidSecretKeyGenerator> =
    std::sync::LazyLock::new(RandomPidSecretKeyGenerator::default);

/// Users and their verifiers.
pub type Users = HashMap<String, Verifier>;

/// Where one connection's exchange stands.
enum Exchange {
    /// Waiting for the client's first SCRAM message.
    Started,
    /// Server-first sent; what the final check needs.
    ServerFirstSent {
        verifier: Verifier,
        nonce: String,
        client_first_bare: String,
        server_first: String,
    },
}

/// One connection's SCRAM-SHA-256 startup (pgwire asks for a handler per connection).
pub struct ScramStartup {
    users: Arc<Users>,
    connections: Arc<ConnectionManager>,
    exchange: Mutex<Exchange>,
}

impl ScramStartup {
    /// A handler for one connection.
    pub fn new(users: Arc<Users>, connections: Arc<ConnectionManager>) -> Self {
        Self {
            users,
            connections,
            exchange: Mutex::new(Exchange::Started),
        }
    }
}

fn protocol_error(message: &str) -> PgWireError {
    PgWireError::InvalidScramMessage(message.to_string())
}

/// The `name=value` attributes of a SCRAM message.
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut characters = part.chars();
        (characters.next() == Some(name) && characters.next() == Some('=')).then(|| &part[2..])
    })
}

#[async_trait]
impl StartupHandler for ScramStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                        vec![MECHANISM.to_string()],
                    )))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let mut exchange = self.exchange.lock().await;
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                match &*exchange {
                    Exchange::Started => {
                        let initial = message.into_sasl_initial_response()?;
                        if initial.auth_method != MECHANISM {
                            return Err(PgWireError::UnsupportedSASLAuthMethod(
                                initial.auth_method,
                            ));
                        }
                        let data = initial
                            .data
                            .ok_or_else(|| protocol_error("empty client-first message"))?;
                        let client_first = std::str::from_utf8(&data)
                            .map_err(|_| protocol_error("client-first is not UTF-8"))?;
                        // gs2 header: "n,," (no binding) or "y,," (client could bind, we
                        // offered no -PLUS); "p=..." asks for a binding we do not offer.
                        let client_first_bare = match client_first.get(..3) {
                            Some("n,," | "y,,") => &client_first[3..],
                            _ => return Err(protocol_error("channel binding is not supported")),
                        };
                        let client_nonce = attribute(client_first_bare, 'r')
                            .ok_or_else(|| protocol_error("client-first has no nonce"))?;
                        // The user is the startup packet's, as in PostgreSQL (the SCRAM
                        // user name is ignored).
                        let verifier = self
                            .users
                            .get(&user)
                            .cloned()
                            .unwrap_or_else(Verifier::throwaway);
                        let nonce = format!(
                            "{client_nonce}{}",
                            STANDARD.encode(rand::random::<[u8; 18]>())
                        );
                        let server_first = format!(
                            "r={nonce},s={},i={}",
                            STANDARD.encode(&verifier.salt),
                            verifier.iterations
                        );
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLContinue(server_first.clone().into()),
                            ))
                            .await?;
                        *exchange = Exchange::ServerFirstSent {
                            verifier,
                            nonce,
                            client_first_bare: client_first_bare.to_string(),
                            server_first,
                        };
                    }
                    Exchange::ServerFirstSent {
                        verifier,
                        nonce,
                        client_first_bare,
                        server_first,
                    } => {
                        let response = message.into_sasl_response()?;
                        let client_final = std::str::from_utf8(&response.data)
                            .map_err(|_| protocol_error("client-final is not UTF-8"))?;
                        let (without_proof, proof) = client_final
                            .rsplit_once(",p=")
                            .ok_or_else(|| protocol_error("client-final has no proof"))?;
                        if attribute(without_proof, 'r') != Some(nonce.as_str()) {
                            return Err(protocol_error("nonce mismatch"));
                        }
                        if !matches!(attribute(without_proof, 'c'), Some("biws" | "eSws")) {
                            return Err(protocol_error("unexpected channel binding"));
                        }
                        let proof = STANDARD
                            .decode(proof)
                            .map_err(|_| protocol_error("proof is not base64"))?;
                        let auth_message =
                            format!("{client_first_bare},{server_first},{without_proof}");
                        let Some(server_signature) = verify_proof(verifier, &auth_message, &proof)
                        else {
                            tracing::warn!(%user, "password authentication failed");
                            return Err(PgWireError::InvalidPassword(user));
                        };
                        let server_final = format!("v={}", STANDARD.encode(server_signature));
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLFinal(server_final.into()),
                            ))
                            .await?;
                        let (pid, secret_key) = PIDS.generate(client);
                        client.set_pid_and_secret_key(pid, secret_key.clone());
                        let (handle, guard) = self.connections.register(pid, secret_key);
                        client.session_extensions().insert(handle);
                        client.session_extensions().insert(guard);
                        finish_authentication(client, &DefaultServerParameterProvider::default())
                            .await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example exchange of RFC 7677 section 3 (user "user", password "pencil").
    #[test]
    fn the_rfc_7677_exchange_verifies() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = Verifier::from_password("pencil", &salt, 4096);
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth_message = format!(
            "n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
        );
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let server_signature = verify_proof(&verifier, &auth_message, &proof).expect("proof");
        assert_eq!(
            STANDARD.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let mut wrong = proof.clone();
        wrong[0] ^= 1;
        assert!(verify_proof(&verifier, &auth_message, &wrong).is_none());
        let other = Verifier::from_password("pencil2", &salt, 4096);
        assert!(verify_proof(&other, &auth_message, &proof).is_none());
    }

    #[test]
    fn verifiers_round_trip() {
        let verifier = Verifier::from_password("secret", b"0123456789abcdef", 4096);
        let text = verifier.to_string();
        assert!(
            text.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"),
            "{text}"
        );
        assert_eq!(Verifier::parse(&text).unwrap(), verifier);
    }

    #[test]
    fn malformed_verifiers_say_what_is_wrong() {
        assert!(Verifier::parse("md5abc")
            .unwrap_err()
            .contains("SCRAM-SHA-256$"));
        assert!(Verifier::parse("SCRAM-SHA-256$x:c2FsdA==$a:b")
            .unwrap_err()
            .contains("iterations"));
        assert!(Verifier::parse("SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg==")
            .unwrap_err()
            .contains("32 bytes"));
        assert!(Verifier::parse("SCRAM-SHA-256$4096:!!$a:b")
            .unwrap_err()
            .contains("base64"));
    }

    #[test]
    fn attributes_are_found_by_name() {
        assert_eq!(attribute("n=user,r=abc", 'r'), Some("abc"));
        assert_eq!(attribute("c=biws,r=xyz", 'c'), Some("biws"));
        assert_eq!(attribute("n=user", 'r'), None);
    }
}
