//! [`ObjectStore`] on an S3-compatible service through `aws-sdk-s3`: a custom endpoint
//! (MinIO, Garage) or AWS itself, path-style addressing by default, static credentials from
//! the configuration.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use chrono::Utc;
use secrecy::ExposeSecret;

use super::{check_key, join_url, signing_window, ObjectInfo, ObjectStore, PresignedPut};
use crate::config::StorageSettings;

pub struct S3Store {
    client: Client,
    bucket: String,
    /// `None`: reads are presigned GET URLs.
    public_base_url: Option<String>,
    read_ttl: Duration,
}

impl S3Store {
    pub fn from_settings(settings: &StorageSettings) -> anyhow::Result<S3Store> {
        let access_key_id = settings
            .access_key_id
            .clone()
            .context("storage.access_key_id is required with the s3 backend")?;
        let secret = settings
            .secret_access_key
            .as_ref()
            .context("storage.secret_access_key is required with the s3 backend")?;
        let credentials = Credentials::new(
            access_key_id,
            secret.expose_secret().to_string(),
            None,
            None,
            "storage-settings",
        );
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.path_style)
            // Checksums only where S3 requires them: presigned uploads are sent by browsers,
            // which cannot add the SDK's checksum headers, and not every S3-compatible server
            // speaks the newer checksum trailers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint.clone());
        }
        Ok(S3Store {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            public_base_url: settings
                .public_base_url
                .clone()
                .filter(|base| !base.is_empty()),
            read_ttl: Duration::from_secs(settings.presign_ttl_secs),
        })
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> anyhow::Result<PresignedPut> {
        check_key(key)?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(content_length)?)
            .presigned(PresigningConfig::expires_in(ttl)?)
            .await
            .context("presigning an S3 PUT")?;
        Ok(PresignedPut {
            method: "PUT",
            url: presigned.uri().to_string(),
            headers: presigned
                .headers()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
                .collect(),
            expires_at: Utc::now() + ttl,
        })
    }

    async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectInfo>> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0),
                content_type: out.content_type().map(str::to_string),
            })),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(HeadObjectError::is_not_found) =>
            {
                Ok(None)
            }
            Err(err) => Err(anyhow::Error::new(err).context(format!("S3 HEAD {key}"))),
        }
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        check_key(key)?;
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .with_context(|| format!("reading S3 object {key}"))?;
                Ok(Some(bytes.to_vec()))
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(GetObjectError::is_no_such_key) =>
            {
                Ok(None)
            }
            Err(err) => Err(anyhow::Error::new(err).context(format!("S3 GET {key}"))),
        }
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .with_context(|| format!("S3 PUT {key}"))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        check_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("S3 DELETE {key}"))?;
        Ok(())
    }

    async fn read_url(&self, key: &str) -> anyhow::Result<String> {
        check_key(key)?;
        if let Some(base) = &self.public_base_url {
            return Ok(join_url(base, key));
        }
        let (start, ttl) = signing_window(SystemTime::now(), self.read_ttl);
        let config = PresigningConfig::builder()
            .start_time(start)
            .expires_in(ttl)
            .build()?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .context("presigning an S3 GET")?;
        Ok(presigned.uri().to_string())
    }
}
