//! `shelfmark login` and `shelfmark logout`: sign a cache in to a server (the token kept in
//! the OS keyring, or a private file beside the cache) and out again (the session ended on
//! the server too, when it can be told).

use clap::Args;

use shelfmark_client::SignedOut;

use crate::CliError;
use crate::session::{Cache, Session, password_from_env_or_prompt, runtime};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The library server, for example http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The staff user to sign in as; the password comes from SHELFMARK_PASSWORD or a prompt.
    #[arg(long, value_name = "NAME")]
    pub user: String,
}

pub fn login(cache: &Cache, args: &LoginArgs) -> Result<(), CliError> {
    let password = password_from_env_or_prompt(&args.user)?.ok_or_else(|| {
        CliError::Usage("no password: set SHELFMARK_PASSWORD or run on a terminal".into())
    })?;
    let address = shelfmark_core::address::server_address(&args.server)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if address.unencrypted {
        eprintln!(
            "shelfmark: {} is plain HTTP to another machine: the password and every record \
             cross the network unencrypted (use https:// unless this is a test server)",
            address.url
        );
    }
    let session = Session {
        server: address.url.trim_end_matches('/').to_owned(),
        user: args.user.clone(),
        ca_cert: cache.ca_cert().map(std::path::Path::to_owned),
    };
    let user = runtime()?.block_on(cache.login(session.clone(), &password))?;
    println!(
        "signed in to {} as {} ({})",
        session.server,
        user.name,
        user.role.as_str()
    );
    Ok(())
}

pub fn logout(cache: &Cache) -> Result<(), CliError> {
    match runtime()?.block_on(cache.logout())? {
        Some((s, outcome)) => {
            println!("signed out of {} ({})", s.server, s.user);
            if let SignedOut::NotTold(why) = outcome {
                eprintln!(
                    "shelfmark: the server could not be told ({why}); the token is forgotten \
                     here and ends on the server when it expires"
                );
            }
        }
        None => println!("not signed in"),
    }
    Ok(())
}
