//! Talking to the running broker, and what its answers mean as exit codes.

use castkey_ipc::{Client, ClientError, Method, Reason};

/// The `--help` text on exit codes; [`exit_code_for`] is the code.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done
  1  any other error
  2  wrong arguments
  3  no Castkey broker is running (start the app or `castkey serve`)
  4  sign in (again), or no such account
  5  the provider cannot be reached (try again later)
  6  Castkey refused this program: not allowed (a headless broker that does not list it,
     or a client bound to another account), consent denied or not answered in time,
     or a scope the user's policy for it does not allow";

/// JSON-RPC's "method not found": a broker older than this command.
const METHOD_NOT_FOUND: i64 = -32601;

/// An account named on the command line that matches none (exit code 4,
/// like the broker's `unknown_account`).
#[derive(Debug)]
pub(crate) struct UnknownAccount(pub(crate) String);

impl std::fmt::Display for UnknownAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnknownAccount {}

/// Exit codes scripts can branch on (see [`EXIT_CODES_HELP`]): 3 no broker,
/// 4 sign in (again) or unknown account, 5 provider unavailable, 6 refused
/// for this program (not allowed, consent denied or timed out, scope not
/// allowed), 1 anything else. Clap exits 2 on wrong arguments.
pub(crate) fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UnknownAccount>().is_some() {
        return 4;
    }
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::NotRunning { .. }) => 3,
        Some(ClientError::Rpc(rpc)) => exit_code_for_reason(rpc.reason()),
        _ => 1,
    }
}

pub(crate) fn exit_code_for_reason(reason: Option<Reason>) -> u8 {
    match reason {
        Some(Reason::NotSignedIn | Reason::ReauthRequired | Reason::UnknownAccount) => 4,
        Some(Reason::ProviderUnavailable) => 5,
        Some(
            Reason::ClientNotAllowed
            | Reason::ConsentDenied
            | Reason::ConsentTimeout
            | Reason::ScopeNotAllowed,
        ) => 6,
        _ => 1,
    }
}

/// Whether the broker does not know the method (it is older than this command).
pub(crate) fn is_method_not_found(e: &ClientError) -> bool {
    matches!(e, ClientError::Rpc(rpc) if rpc.code == METHOD_NOT_FOUND)
}

/// Calls `M`. A broker that does not know the method yet is named as the
/// cause: it is older than this command.
pub(crate) fn call<M: Method>(client: &mut Client, params: &M::Params) -> anyhow::Result<M::Result> {
    client.call::<M>(params).map_err(|e| {
        if is_method_not_found(&e) {
            anyhow::Error::new(e).context(format!(
                "the running Castkey does not offer `{}` yet: it is older than this command (restart it \
                 after updating)",
                M::METHOD
            ))
        } else {
            e.into()
        }
    })
}

/// Connects to the running broker.
pub(crate) fn connect() -> anyhow::Result<Client> {
    Ok(Client::connect_default()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use castkey_ipc::RpcError;
    use std::path::PathBuf;

    fn rpc(reason: Reason) -> anyhow::Error {
        ClientError::Rpc(RpcError::new(reason, "x")).into()
    }

    #[test]
    fn exit_codes_follow_the_reason() {
        assert_eq!(exit_code_for(&ClientError::NotRunning { path: PathBuf::from("/x") }.into()), 3);
        for r in [Reason::NotSignedIn, Reason::ReauthRequired, Reason::UnknownAccount] {
            assert_eq!(exit_code_for(&rpc(r)), 4, "{r}");
        }
        assert_eq!(exit_code_for(&rpc(Reason::ProviderUnavailable)), 5);
        for r in
            [Reason::ClientNotAllowed, Reason::ConsentDenied, Reason::ConsentTimeout, Reason::ScopeNotAllowed]
        {
            assert_eq!(exit_code_for(&rpc(r)), 6, "{r}");
        }
        for r in [
            Reason::InvalidRequest,
            Reason::ScopeNotGranted,
            Reason::KeychainUnavailable,
            Reason::LoginFailed,
            Reason::Busy,
            Reason::Internal,
            Reason::Unknown,
        ] {
            assert_eq!(exit_code_for(&rpc(r)), 1, "{r}");
        }
        assert_eq!(exit_code_for(&anyhow::anyhow!("anything")), 1);
        assert_eq!(exit_code_for(&UnknownAccount("no such account".into()).into()), 4);
    }

    #[test]
    fn exit_codes_survive_context() {
        let e = rpc(Reason::ConsentDenied).context("asking for the status");
        assert_eq!(exit_code_for(&e), 6);
        let e = anyhow::Error::new(ClientError::NotRunning { path: PathBuf::from("/x") }).context("status");
        assert_eq!(exit_code_for(&e), 3);
    }

    #[test]
    fn method_not_found_is_recognised() {
        let e = ClientError::Rpc(RpcError::method_not_found("status"));
        assert!(is_method_not_found(&e));
        assert!(!is_method_not_found(&ClientError::Rpc(RpcError::invalid_params("x"))));
        let e = anyhow::Error::new(e);
        assert_eq!(exit_code_for(&e), 1);
    }

    #[test]
    fn the_help_lists_every_code() {
        for code in ["  3  ", "  4  ", "  5  ", "  6  "] {
            assert!(EXIT_CODES_HELP.contains(code), "{code}");
        }
    }
}
