//! The installed desktop package, driven as a new user meets it: `SHELFMARK_INSTALLED_APP`
//! names the installed binary (`scripts/desktop-deb-check.sh` installs the `.deb` with
//! apt-get and runs this with `/usr/bin/shelfmark-desktop`). Skipped by the other end-to-end
//! runs (`--skip installed::`), and failing, not passing, when started without the package.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use fantoccini::Locator;
use shelfmark_tests::{DemoServer, Desktop, Xvfb};

use super::{synced_catalogue, wait_text};

fn installed_app() -> anyhow::Result<PathBuf> {
    let app = std::env::var_os("SHELFMARK_INSTALLED_APP")
        .map(PathBuf::from)
        .context(
            "SHELFMARK_INSTALLED_APP names no installed app (scripts/desktop-deb-check.sh sets it)",
        )?;
    anyhow::ensure!(app.is_file(), "{} is not installed", app.display());
    Ok(app)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the installed package: scripts/desktop-deb-check.sh (make test) runs it"]
async fn the_installed_app_asks_for_its_server_on_first_run_then_opens_on_the_synced_catalogue()
-> anyhow::Result<()> {
    let app_path = installed_app()?;
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch_installed("installed", &xvfb, &app_path).await?;
    let result = async {
        let form = app
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("[data-testid=sign-in-form]"))
            .await?;
        let address = form
            .find(Locator::Css("[data-testid=sign-in-server]"))
            .await?;
        assert_eq!(
            address.prop("value").await?.unwrap_or_default(),
            "",
            "a first run knows no server"
        );
        address.send_keys(&server.url).await?;
        form.find(Locator::Css("[data-testid=sign-in-user]"))
            .await?
            .send_keys("librarian")
            .await?;
        form.find(Locator::Css("[data-testid=sign-in-password]"))
            .await?
            .send_keys(shelfmark_tests::DEMO_PASSWORD)
            .await?;
        app.screenshot("first-run-sign-in").await?;
        form.find(Locator::Css("[data-testid=sign-in-submit]"))
            .await?
            .click()
            .await?;
        synced_catalogue(&app).await?;
        app.screenshot("catalogue").await?;
        // The cache is in the XDG data folder, under the app's identifier.
        let cache = app
            .home()
            .join("xdg_data_home/org.shelfmark.desktop/cache.db");
        anyhow::ensure!(cache.is_file(), "no cache at {}", cache.display());

        // The log: in the XDG state folder, named by the About box, with the sign-in and the
        // sync in it and neither the password nor the session's token.
        app.client
            .find(Locator::Css("[data-testid=about]"))
            .await?
            .click()
            .await?;
        let folder = app.home().join("xdg_state_home/org.shelfmark.desktop");
        let named = wait_text(&app, "[data-testid=about-log]", "the About box", |t| {
            !t.is_empty()
        })
        .await?;
        assert_eq!(PathBuf::from(&named), folder);
        app.screenshot("about").await?;
        let token_file = app.home().join("xdg_data_home/org.shelfmark.desktop/token");
        let token: serde_json::Value = serde_json::from_slice(&std::fs::read(&token_file)?)?;
        let token = token["token"]
            .as_str()
            .context("a token in the token file")?;
        let log = super::eventually(Duration::from_secs(10), "the sync in the log", || async {
            let mut text = String::new();
            for entry in std::fs::read_dir(&folder)? {
                text.push_str(&std::fs::read_to_string(entry?.path())?);
            }
            Ok(text.contains("synced").then_some(text))
        })
        .await?;
        assert!(log.contains("Shelfmark starts"), "{log}");
        assert!(
            !log.contains(shelfmark_tests::DEMO_PASSWORD),
            "the password is in the log"
        );
        assert!(!log.contains(token), "the token is in the log");
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}
