//! "Import MARC…" in the real window: a vendor's batch chosen in the native file chooser,
//! its preview (new, already in the catalogue by ISBN, rejected and why), the new books
//! queued with a progress bar and then pushed to the server by the next sync.

use std::time::Duration;

use fantoccini::Locator;
use shelfmark_core::marc::{ControlField, DataField, Record};
use shelfmark_tests::{DemoServer, Desktop, Xvfb};

use super::{eventually, locked, online, other_desk, text_of, wait_text};

/// A record as a vendor sends one: 001/003, an ISBN as printed (ISBD punctuation and all).
fn record(number: &str, isbn: Option<&str>, title: Option<&str>, author: &str) -> Record {
    let mut data_fields = Vec::new();
    if let Some(isbn) = isbn {
        data_fields.push(DataField::new("020", ' ', ' ', &[('a', isbn)]));
    }
    data_fields.push(DataField::new("100", '1', ' ', &[('a', author)]));
    if let Some(title) = title {
        data_fields.push(DataField::new(
            "245",
            '1',
            '0',
            &[('a', &format!("{title} /")), ('c', author)],
        ));
    }
    data_fields.push(DataField::new(
        "264",
        ' ',
        '1',
        &[('b', "Harvill,"), ('c', "2021.")],
    ));
    Record {
        leader: "00000nam a2200000 i 4500".into(),
        control_fields: vec![
            ControlField::new("001", number),
            ControlField::new("003", "VendorX"),
        ],
        data_fields,
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_vendor_s_marc_batch_chosen_in_the_file_chooser_is_previewed_queued_and_reaches_the_server()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    // A book the library has: the batch carries it again under the vendor's own number.
    let (_, cache) = other_desk(&server).await?;
    let known = locked(&cache)?
        .list_books("", 50)?
        .into_iter()
        .find(|b| !b.isbn.is_empty())
        .ok_or_else(|| anyhow::anyhow!("the demo library has no book with an ISBN"))?;
    let folder = tempfile::tempdir()?;
    let file = folder.path().join("vendor-batch.mrc");
    let batch = [
        record(
            "v-101",
            Some("9781861972712 (pbk.)"),
            Some("Tidal Atlas"),
            "Ray, Ann",
        ),
        record("v-102", Some(&known.isbn), Some(&known.title), "Someone"),
        record(
            "v-103",
            None,
            Some("Sermons of the Old Parish"),
            "Parson, A.",
        ),
        record("v-104", Some("0-19-852663-6"), None, "Nobody, N."),
        record(
            "v-105",
            Some("0198526636 (hbk.)"),
            Some("Harbour Lights"),
            "Hale, Tom",
        ),
    ];
    shelfmark_marc::write_iso2709(std::fs::File::create(&file)?, &batch)?;

    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("marc-import", &server, &xvfb, "librarian").await?;
    let result = async {
        online(&app).await?;
        app.client
            .find(Locator::Css("[data-testid=import-marc]"))
            .await?
            .click()
            .await?;
        xvfb.choose_file("Import MARC records", &file)?;
        wait_text(&app, "[data-testid=marc-import-new]", "the preview", |t| {
            t == "3"
        })
        .await?;
        assert_eq!(
            text_of(&app, "[data-testid=marc-import-known]").await?,
            Some("1".into())
        );
        assert_eq!(
            text_of(&app, "[data-testid=marc-import-rejected]").await?,
            Some("1".into())
        );
        let rejected = text_of(&app, "[data-testid=marc-import-rejected-list]")
            .await?
            .unwrap_or_default();
        assert!(
            rejected.contains("Record 4 (v-104)") && rejected.contains("title"),
            "{rejected}"
        );
        let known_list = text_of(&app, "[data-testid=marc-import-known-list]")
            .await?
            .unwrap_or_default();
        assert!(known_list.contains(&known.title), "{known_list}");
        app.screenshot("preview").await?;

        app.client
            .find(Locator::Css("[data-testid=marc-import-confirm]"))
            .await?
            .click()
            .await?;
        let done = wait_text(&app, "[data-testid=marc-import-done]", "the import", |t| {
            !t.is_empty()
        })
        .await?;
        assert!(done.starts_with("3 books queued"), "{done}");
        app.screenshot("done").await?;
        app.client
            .find(Locator::Css("[data-testid=marc-import-close]"))
            .await?
            .click()
            .await?;

        // The next sync pushes them: the outbox empties and another desk sees the books.
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;
        let titles = ["Tidal Atlas", "Sermons of the Old Parish", "Harbour Lights"];
        eventually(
            Duration::from_secs(20),
            "the imported books on the server",
            || async {
                let (_, cache) = other_desk(&server).await?;
                let s = locked(&cache)?;
                let mut found = Vec::new();
                for title in titles {
                    found.extend(
                        s.list_books(title, 5)?
                            .into_iter()
                            .filter(|b| b.title == title)
                            .map(|b| (b.title, b.isbn)),
                    );
                }
                Ok((found.len() == titles.len()).then_some(found))
            },
        )
        .await
        .map(|found| {
            assert!(
                found.contains(&("Tidal Atlas".into(), "9781861972712".into())),
                "{found:?}"
            );
            assert!(
                found.contains(&("Sermons of the Old Parish".into(), String::new())),
                "{found:?}"
            );
            assert!(
                found.contains(&("Harbour Lights".into(), "9780198526636".into())),
                "{found:?}"
            );
        })?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}
