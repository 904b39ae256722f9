//! `reveal_secret <file> <name>`: prints the secret `name` (e.g.
//! `account/sandbox:streamer/refresh_token`) held in the encrypted file
//! store at `<file>`, with the passphrase read from standard input (fd 0).
//! Exit 0 with the secret on stdout; 1 when the file has no such secret;
//! 2 on any other error. For the scenario tests (tests/tests/no_keyring.rs),
//! which check that the running broker wrote the real refresh token there
//! and no plaintext; an example, not a tool: it is built with the core's
//! `test-support` feature and never shipped.

use castkey_core::{EncryptedFileStore, Passphrase};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, name] = args.as_slice() else {
        eprintln!("usage: reveal_secret <file> <name>  (passphrase on stdin)");
        return ExitCode::from(2);
    };
    let run = || -> Result<Option<String>, String> {
        let pass = Passphrase::Fd(0).read().map_err(|e| e.to_string())?;
        let store = EncryptedFileStore::open(std::path::Path::new(file), &pass).map_err(|e| e.to_string())?;
        Ok(store.reveal_for_tests(name))
    };
    match run() {
        Ok(Some(secret)) => {
            #[allow(clippy::print_stdout)]
            {
                println!("{secret}");
            }
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::from(1),
        Err(e) => {
            eprintln!("reveal_secret: {e}");
            ExitCode::from(2)
        }
    }
}
