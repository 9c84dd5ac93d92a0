//! NATS's decentralized authentication, made here for a test: an operator, an account with
//! JetStream and users, each a JWT signed with nkeys as `nsc` would make them, and the `.creds`
//! files users connect with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

/// An operator and one account it signed: what nats-server's configuration needs.
pub struct Operator {
    operator: KeyPair,
    account: KeyPair,
    system: KeyPair,
}

impl Operator {
    /// A new operator with one account.
    pub fn new() -> Self {
        Self { operator: KeyPair::new_operator(), account: KeyPair::new_account(), system: KeyPair::new_account() }
    }

    /// nats-server configuration lines: the operator, and the account (and the system account
    /// JetStream needs) preloaded in memory.
    pub fn server_config(&self) -> String {
        let operator = jwt(&self.operator, &self.operator.public_key(), json!({"type": "operator", "version": 2}));
        let account = jwt(
            &self.operator,
            &self.account.public_key(),
            json!({
                "type": "account", "version": 2,
                "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                           "wildcards": true, "conn": -1, "leaf": -1,
                           "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
            }),
        );
        let system = jwt(&self.operator, &self.system.public_key(), json!({"type": "account", "version": 2}));
        format!(
            "operator: \"{operator}\"\nsystem_account: {sys}\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{account}\"\n  {sys}: \"{system}\"\n}}\n",
            self.account.public_key(),
            sys = self.system.public_key(),
        )
    }

    /// A `.creds` file's text for a new user of the account, with no limits of its own.
    pub fn user_creds(&self) -> String {
        creds(&self.account)
    }
}

impl Default for Operator {
    fn default() -> Self {
        Self::new()
    }
}

/// A `.creds` file's text for a user signed by `account`, which need not be one the server
/// knows.
pub fn creds(account: &KeyPair) -> String {
    let user = KeyPair::new_user();
    let token = jwt(
        account,
        &user.public_key(),
        json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
    );
    let seed = user.seed().expect("seed");
    format!(
        "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

/// A JWT of `nats` claims about `subject`, issued and signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, nats: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let claims = json!({
        "jti": format!("{:X}{}", now, &subject[1..20]),
        "iat": now,
        "iss": issuer.public_key(),
        "name": "nvt-test",
        "sub": subject,
        "nats": nats,
    });
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = URL_SAFE_NO_PAD.encode(issuer.sign(signed.as_bytes()).expect("sign"));
    format!("{signed}.{signature}")
}
