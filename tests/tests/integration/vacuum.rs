//! Retention: vacuum deletes exactly the files compaction removed once the removal is older
//! than the retention, never a referenced file; a query session opened before the compaction
//! keeps answering while the removal is inside the window, and queries running during a
//! vacuum answer as before. `groundtruth vacuum` reports the same files.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use groundtruth_engine::clock::ManualClock;
use groundtruth_engine::model::Layer;
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use groundtruth_ingest::runner::Ingestor;
use groundtruth_ingest::source::simulated::{SimulatedEstate, SimulatedSource};
use groundtruth_ingest::source::Source;
use groundtruth_tests::{cli, write_config};

fn parquet_files(directory: &Path) -> BTreeSet<String> {
    std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".parquet"))
        .collect()
}

/// Answers that read history files: versions, and the state at several instants.
async fn answers(engine: &Engine) -> Vec<String> {
    let mut texts = Vec::new();
    let mut queries = vec!["SELECT count(*), max(valid_from) FROM resource_versions".to_string()];
    for day in [1, 4, 8] {
        queries.push(format!(
            "SELECT kind, id, attrs FROM resources_at(TIMESTAMP '2026-03-{:02}T06:00:00Z') \
             ORDER BY source, kind, id",
            day
        ));
    }
    for query in queries {
        let batches = engine
            .query(&query)
            .await
            .unwrap_or_else(|error| panic!("{query}: {error}"));
        texts.push(
            arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string(),
        );
    }
    texts
}

#[tokio::test(flavor = "multi_thread")]
async fn vacuum_deletes_only_old_unreferenced_files_and_readers_in_the_window_go_on() {
    let work = tempfile::tempdir().unwrap();
    let directory = work.path().join("store");
    let url = StoreUrl::parse(directory.to_str().unwrap()).unwrap();
    let store = Arc::new(Store::open(&url, &StoreOptions::default()).await.unwrap());
    let epoch = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let ingestor = Ingestor::open(Arc::clone(&store), Arc::new(ManualClock::new(epoch)))
        .await
        .unwrap();
    let estate = Arc::new(SimulatedEstate::new(11, epoch, 3));
    let sources: Vec<Arc<dyn Source>> = vec![
        Arc::new(SimulatedSource::new(
            "iac",
            Layer::Declared,
            Arc::clone(&estate),
        )),
        Arc::new(SimulatedSource::new(
            "cloud",
            Layer::Live,
            Arc::clone(&estate),
        )),
    ];
    // One commit per half day over ten days: many small files to compact.
    for half_day in 0..20 {
        let runs: Vec<_> = (0..12)
            .flat_map(|hour| {
                let at = epoch + chrono::Duration::hours(half_day * 12 + hour);
                sources.iter().map(move |source| (Arc::clone(source), at))
            })
            .collect();
        ingestor
            .run_history(&runs, Some(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    let versions_directory = directory.join("versions");
    let before_compaction = parquet_files(&versions_directory);
    let other_tables: Vec<_> = ["scrapes", "checkpoints"]
        .iter()
        .map(|table| (table, parquet_files(&directory.join(table))))
        .collect();

    let reader_before = Engine::open(Arc::clone(&store)).await.unwrap();
    let expected = answers(&reader_before).await;

    let compaction = store.compact().await.unwrap();
    assert!(compaction.files_removed > 1, "{compaction:?}");
    let after_compaction = parquet_files(&versions_directory);
    let added: BTreeSet<_> = after_compaction
        .difference(&before_compaction)
        .cloned()
        .collect();
    assert_eq!(added.len() as u64, compaction.files_added);

    // Inside the window (the removal is seconds old): nothing is deleted, and the session
    // planned against the pre-compaction snapshot still reads its files.
    let report = store
        .vacuum(Duration::from_secs(3600), Utc::now(), false)
        .await
        .unwrap();
    assert_eq!(report.files_deleted(), 0, "{report:?}");
    assert_eq!(answers(&reader_before).await, expected);

    // The CLI lists the same files (dry run, retention zero) and deletes nothing.
    let config = write_config(work.path(), &directory, "").unwrap();
    let output = cli(&config, &["vacuum", "--dry-run", "--older-than", "0s"]).unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        printed.contains(&format!(
            "versions: would delete {} files",
            compaction.files_removed
        )),
        "{printed}"
    );
    let output = cli(&config, &["vacuum"]).unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("versions: deleted 0 files"),
        "the default retention (168h) keeps a fresh removal: {output:?}"
    );
    assert_eq!(parquet_files(&versions_directory), after_compaction);

    // Past the window, with queries running on a session opened after the compaction.
    let reader_after = Engine::open(Arc::clone(&store)).await.unwrap();
    assert_eq!(answers(&reader_after).await, expected);
    let querying = {
        let reader = reader_after.clone();
        let expected = expected.clone();
        tokio::spawn(async move {
            let mut rounds = 0;
            let started = std::time::Instant::now();
            while rounds < 3 || started.elapsed() < Duration::from_millis(500) {
                assert_eq!(answers(&reader).await, expected);
                rounds += 1;
            }
            rounds
        })
    };
    let later = Utc::now() + chrono::Duration::hours(2);
    let report = store
        .vacuum(Duration::from_secs(3600), later, false)
        .await
        .unwrap();
    assert!(querying.await.unwrap() >= 3);

    let deleted: BTreeSet<String> = report
        .tables
        .iter()
        .filter(|(table, _)| *table == "versions")
        .flat_map(|(_, files)| {
            files
                .iter()
                .map(|file| file.rsplit('/').next().unwrap().to_string())
        })
        .collect();
    assert_eq!(deleted.len() as u64, compaction.files_removed, "{report:?}");
    assert!(
        deleted.is_subset(&before_compaction),
        "only removed files: {deleted:?}"
    );
    assert_eq!(
        parquet_files(&versions_directory),
        after_compaction
            .difference(&deleted)
            .cloned()
            .collect::<BTreeSet<_>>(),
        "exactly the reported files were deleted"
    );
    assert!(
        added.is_subset(&parquet_files(&versions_directory)),
        "referenced files kept"
    );
    for (table, files) in &other_tables {
        assert!(
            files.is_subset(&parquet_files(&directory.join(table))),
            "{table} lost files"
        );
    }
    // A fresh reader, and the one that read during the vacuum, answer as before.
    assert_eq!(
        answers(&Engine::open(Arc::clone(&store)).await.unwrap()).await,
        expected
    );
    assert_eq!(answers(&reader_after).await, expected);
    // Vacuuming again finds nothing.
    let again = store
        .vacuum(Duration::from_secs(3600), later, false)
        .await
        .unwrap();
    assert_eq!(again.files_deleted(), 0);
}
