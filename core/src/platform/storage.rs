//! Where uploaded files live: one object-store interface over a local folder
//! (`STORAGE_URL=file://./var/media`, the default) or S3-compatible storage
//! (`s3://bucket`, configured by the usual `AWS_*` variables, including
//! `AWS_ENDPOINT` for MinIO and friends).

use std::sync::Arc;

use bytes::Bytes;
use object_store::{
    aws::AmazonS3Builder, local::LocalFileSystem, memory::InMemory, path::Path, ObjectStore,
    PutPayload,
};

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// For start-up messages; never holds credentials.
    pub description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl Storage {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("STORAGE_URL {url}: cannot create {dir}: {e}"))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| anyhow::anyhow!("STORAGE_URL {url}: {e}"))?;
            Ok(Self {
                store: Arc::new(store),
                description: format!("local folder {dir}"),
            })
        } else if url.starts_with("s3://") {
            let store = AmazonS3Builder::from_env()
                .with_url(url)
                .build()
                .map_err(|e| anyhow::anyhow!("STORAGE_URL {url}: {e}"))?;
            Ok(Self {
                store: Arc::new(store),
                description: format!("S3 {url}"),
            })
        } else if url == "memory://" {
            Ok(Self::memory())
        } else {
            anyhow::bail!(
                "STORAGE_URL {url:?}: expected file://<folder>, s3://<bucket> or memory://"
            )
        }
    }

    /// Lives as long as the process: for tests and throwaway runs.
    pub fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            description: "memory".into(),
        }
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> anyhow::Result<()> {
        self.store
            .put(&Path::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The object's bytes, `None` when there is no such object.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        match self.store.get(&Path::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_storage_returns_what_was_stored() {
        let dir = std::env::temp_dir().join(format!("bazaar-storage-{}", uuid::Uuid::now_v7()));
        let storage = Storage::from_url(&format!("file://{}", dir.display())).unwrap();
        storage
            .put("products/a/b.png", Bytes::from_static(b"\x89PNG"))
            .await
            .unwrap();
        assert_eq!(
            storage.get("products/a/b.png").await.unwrap().unwrap(),
            Bytes::from_static(b"\x89PNG")
        );
        assert!(storage
            .get("products/a/missing.png")
            .await
            .unwrap()
            .is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(Storage::from_url("ftp://x").is_err());
    }
}
