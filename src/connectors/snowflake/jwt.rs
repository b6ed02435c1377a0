//! Key-pair authentication for Snowflake's SQL API: an RS256 JWT signed with the service user's
//! PKCS#8 private key, cached and renewed before it expires. The key never leaves this module:
//! nothing here prints it, and `Debug` shows only the public fingerprint.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::PrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};

/// How long a token is valid; Snowflake accepts at most one hour.
const LIFETIME: Duration = Duration::from_secs(3600);
/// A cached token is renewed when less than this is left of it.
const RENEW_BEFORE: Duration = Duration::from_secs(10 * 60);

/// An account identifier as people write it, read into its documented parts
/// (docs.snowflake.com/en/user-guide/admin-account-identifier): `orgname-account_name`, or
/// `orgname.account_name` as SQL writes it; an account locator, alone or with its region and
/// cloud (`xy12345.us-east-2.aws`); either followed by `.privatelink`. Account names hold only
/// letters, digits and underscores, so a part after the first `.` that holds a `-` is a region.
struct Identifier {
    /// `orgname-account_name` or the locator, lower-cased.
    account: String,
    /// `.us-east-2.aws` for a locator outside the first region, else empty.
    region: String,
    privatelink: bool,
}

impl Identifier {
    fn read(written: &str) -> Identifier {
        let lower = written.trim().to_ascii_lowercase();
        let (core, privatelink) = match lower.strip_suffix(".privatelink") {
            Some(core) => (core.to_owned(), true),
            None => (lower, false),
        };
        let (account, region) = match core.split_once('.') {
            Some((locator, region)) if region.contains('-') => {
                (locator.to_owned(), format!(".{region}"))
            }
            Some((org, name)) => (format!("{org}-{}", name.replace('.', "-")), String::new()),
            None => (core, String::new()),
        };
        Identifier {
            account,
            region,
            privatelink,
        }
    }
}

/// The account part of the JWT's `iss` and `sub`: "the account identifier in uppercase",
/// without region, cloud or `.privatelink`, and `orgname-account_name` with a hyphen
/// (docs.snowflake.com/en/developer-guide/sql-api/authenticating).
pub(super) fn account_for_jwt(account: &str) -> String {
    Identifier::read(account).account.to_ascii_uppercase()
}

/// The account's host: `orgname-account_name.snowflakecomputing.com` (an underscore, not
/// allowed in a host name, written as a hyphen, as Snowflake accepts), or the locator's with
/// its region and cloud, and `.privatelink` before the domain when it is one.
pub(super) fn host_for(account: &str) -> String {
    let id = Identifier::read(account);
    format!(
        "{}{}{}.snowflakecomputing.com",
        id.account.replace('_', "-"),
        id.region,
        if id.privatelink { ".privatelink" } else { "" }
    )
}

/// The signing key and the fingerprint Snowflake stores as the user's `RSA_PUBLIC_KEY_FP`.
struct SigningKey {
    key: EncodingKey,
    fingerprint: String,
}

/// Makes and caches the bearer token for one service user.
pub(super) struct Tokens {
    /// `ACCOUNT.USER`, the JWT's `sub` and the start of its `iss`.
    qualified_user: String,
    signing: SigningKey,
    cached: Mutex<Option<(String, SystemTime)>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("qualified_user", &self.qualified_user)
            .field("fingerprint", &self.signing.fingerprint)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
}

impl Tokens {
    /// Reads the PKCS#8 PEM key. Errors say what is wrong with it, never what it holds.
    pub(super) fn new(account: &str, user: &str, pem: &str) -> Result<Self, String> {
        const HOW: &str = "write it as PKCS#8 PEM (-----BEGIN PRIVATE KEY-----), e.g. \
             `openssl pkcs8 -topk8 -nocrypt -in rsa_key.p8`";
        let private = PrivateKey::from_pkcs8_pem(pem.trim())
            .map_err(|_| format!("the Snowflake private key is not an RSA PKCS#8 key; {HOW}"))?;
        let spki = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|_| "cannot derive the public key from the Snowflake private key")?;
        let digest = Sha256::digest(spki.as_bytes());
        let fingerprint = format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        let key = EncodingKey::from_rsa_pem(pem.trim().as_bytes())
            .map_err(|_| format!("the Snowflake private key cannot sign tokens; {HOW}"))?;
        Ok(Tokens {
            qualified_user: format!(
                "{}.{}",
                account_for_jwt(account),
                user.trim().to_ascii_uppercase()
            ),
            signing: SigningKey { key, fingerprint },
            cached: Mutex::new(None),
        })
    }

    /// `SHA256:<base64>` of the public key: what `DESC USER` shows as `RSA_PUBLIC_KEY_FP`.
    pub(super) fn fingerprint(&self) -> &str {
        &self.signing.fingerprint
    }

    pub(super) fn qualified_user(&self) -> &str {
        &self.qualified_user
    }

    /// A valid token: the cached one, or a new one when the cached one is close to expiry.
    pub(super) fn bearer(&self) -> Result<String, String> {
        // Snowflake checks `iat` and `exp` against real time, so this reads the system clock,
        // not the app's `Clock` (which tests move at will).
        let now = SystemTime::now();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, expires)) = cached.as_ref()
            && expires.duration_since(now).unwrap_or_default() > RENEW_BEFORE
        {
            return Ok(token.clone());
        }
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970")?
            .as_secs();
        let issuer = format!("{}.{}", self.qualified_user, self.signing.fingerprint);
        let claims = Claims {
            iss: &issuer,
            sub: &self.qualified_user,
            iat,
            exp: iat + LIFETIME.as_secs(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.signing.key)
                .map_err(|e| format!("cannot sign the Snowflake token: {e}"))?;
        *cached = Some((token.clone(), now + LIFETIME));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../../tests/fixtures/snowflake_test_key.pem");

    #[test]
    fn accounts_are_written_as_snowflake_expects() {
        assert_eq!(account_for_jwt("xy12345"), "XY12345");
        assert_eq!(account_for_jwt("xy12345.us-east-1"), "XY12345");
        assert_eq!(account_for_jwt("xy12345.west-europe.azure"), "XY12345");
        assert_eq!(account_for_jwt("myorg.my_account"), "MYORG-MY_ACCOUNT");
        assert_eq!(account_for_jwt("myorg-myaccount"), "MYORG-MYACCOUNT");
        assert_eq!(account_for_jwt("acct.privatelink"), "ACCT");
        assert_eq!(account_for_jwt("myorg-acct.privatelink"), "MYORG-ACCT");
        assert_eq!(
            account_for_jwt("xy12345.us-east-2.aws.privatelink"),
            "XY12345"
        );
    }

    #[test]
    fn each_form_of_the_account_has_its_documented_host() {
        let host = |a: &str| host_for(a);
        assert_eq!(
            host("myorg-myaccount"),
            "myorg-myaccount.snowflakecomputing.com"
        );
        assert_eq!(
            host("MyOrg.My_Account"),
            "myorg-my-account.snowflakecomputing.com"
        );
        assert_eq!(host("xy12345"), "xy12345.snowflakecomputing.com");
        assert_eq!(
            host("xy12345.us-east-2.aws"),
            "xy12345.us-east-2.aws.snowflakecomputing.com"
        );
        assert_eq!(
            host("myorg-acct.privatelink"),
            "myorg-acct.privatelink.snowflakecomputing.com"
        );
        assert_eq!(
            host("xy12345.us-east-2.aws.privatelink"),
            "xy12345.us-east-2.aws.privatelink.snowflakecomputing.com"
        );
    }

    #[test]
    fn the_token_names_the_user_and_key_and_is_cached() {
        let t = Tokens::new("myorg.acct", "gatehouse_svc", KEY).unwrap();
        assert_eq!(t.qualified_user(), "MYORG-ACCT.GATEHOUSE_SVC");
        assert!(t.fingerprint().starts_with("SHA256:"));
        let token = t.bearer().unwrap();
        assert_eq!(t.bearer().unwrap(), token, "cached");
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["sub"], "MYORG-ACCT.GATEHOUSE_SVC");
        assert_eq!(
            claims["iss"],
            format!("MYORG-ACCT.GATEHOUSE_SVC.{}", t.fingerprint())
        );
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
    }

    #[test]
    fn a_bad_key_is_refused_without_being_printed_and_debug_hides_the_key() {
        let err = Tokens::new("a", "u", "not-a-key-SECRETVALUE").unwrap_err();
        assert!(err.contains("PKCS#8"), "{err}");
        assert!(!err.contains("SECRETVALUE"));
        let t = Tokens::new("a", "u", KEY).unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        let body: String = KEY.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!shown.contains(&body));
    }
}
