//! Decoding an uploaded image and making its thumbnails: CPU-bound, run on a blocking thread.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Widths of the thumbnails made for every image (capped at the image's own width).
pub const THUMBNAIL_WIDTHS: [u32; 3] = [160, 480, 1200];

/// Largest width or height decoded; larger images are refused before any pixel is decoded.
const MAX_DIMENSION: u32 = 12_000;
/// Most memory one decode may allocate.
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;
/// JPEG quality of opaque thumbnails.
const JPEG_QUALITY: u8 = 82;

/// Why an upload cannot become an image.
#[derive(Debug)]
pub enum Rejection {
    /// The client's fault; the message says what is wrong.
    Invalid(String),
    /// Ours (an encoder failed).
    Internal(anyhow::Error),
}

/// A decoded image's size (after its EXIF orientation) and its encoded thumbnails.
#[derive(Debug)]
pub struct Processed {
    pub width: u32,
    pub height: u32,
    /// Narrowest first; one per distinct capped width.
    pub thumbnails: Vec<EncodedThumbnail>,
}

#[derive(Debug)]
pub struct EncodedThumbnail {
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    pub extension: &'static str,
    pub bytes: Vec<u8>,
}

fn declared_format(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

fn format_name(format: ImageFormat) -> String {
    format!("{format:?}").to_uppercase()
}

/// Decodes `bytes`, which must be an image of `content_type` (judged by its content, not by
/// what was declared), and makes a thumbnail at each of `widths` (never wider than the image).
/// Opaque images get JPEG thumbnails; images with an alpha channel get lossless WebP ones, which
/// keep the transparency.
pub fn process(bytes: &[u8], content_type: &str, widths: &[u32]) -> Result<Processed, Rejection> {
    let declared = declared_format(content_type).ok_or_else(|| {
        Rejection::Invalid(format!("content type {content_type:?} is not accepted"))
    })?;
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|err| Rejection::Internal(err.into()))?;
    let not_an_image = || {
        Rejection::Invalid(format!(
            "the uploaded file is not a valid {} image",
            format_name(declared)
        ))
    };
    match reader.format() {
        None => return Err(not_an_image()),
        Some(actual) if actual != declared => {
            return Err(Rejection::Invalid(format!(
                "the uploaded file is a {} image, but {content_type} was declared",
                format_name(actual)
            )))
        }
        Some(_) => {}
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| not_an_image())?;
    let (w, h) = decoder.dimensions();
    if w > MAX_DIMENSION || h > MAX_DIMENSION {
        return Err(Rejection::Invalid(format!(
            "the image is {w}×{h} pixels; at most {MAX_DIMENSION} pixels a side are accepted"
        )));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|_| not_an_image())?;
    image.apply_orientation(orientation);

    let (width, height) = (image.width(), image.height());
    let alpha = image.color().has_alpha();
    let mut targets: Vec<u32> = widths.iter().map(|&w| w.min(width)).collect();
    targets.sort_unstable();
    targets.dedup();

    // Largest first, each resized from the previous one: cheaper than from the original every
    // time, and the first step carries most of the detail anyway.
    let mut thumbnails = Vec::with_capacity(targets.len());
    let mut source = image;
    for &target in targets.iter().rev() {
        let target_height = ((u64::from(height) * u64::from(target) + u64::from(width) / 2)
            / u64::from(width))
        .max(1) as u32;
        let resized = if target == source.width() {
            source.clone()
        } else {
            source.resize_exact(target, target_height, FilterType::CatmullRom)
        };
        thumbnails.push(encode(&resized, alpha).map_err(Rejection::Internal)?);
        source = resized;
    }
    thumbnails.reverse();
    Ok(Processed {
        width,
        height,
        thumbnails,
    })
}

fn encode(image: &DynamicImage, alpha: bool) -> anyhow::Result<EncodedThumbnail> {
    let mut bytes = Vec::new();
    let (content_type, extension) = if alpha {
        let rgba = image.to_rgba8();
        WebPEncoder::new_lossless(&mut bytes).encode(
            rgba.as_raw(),
            rgba.width(),
            rgba.height(),
            ExtendedColorType::Rgba8,
        )?;
        ("image/webp", "webp")
    } else {
        JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY).encode_image(&image.to_rgb8())?;
        ("image/jpeg", "jpg")
    };
    Ok(EncodedThumbnail {
        width: image.width(),
        height: image.height(),
        content_type,
        extension,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        if alpha {
            ImageBuffer::from_fn(width, height, |x, y| Rgba([x as u8, y as u8, 90, 128]))
                .write_to(&mut out, ImageFormat::Png)
                .unwrap();
        } else {
            ImageBuffer::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 90]))
                .write_to(&mut out, ImageFormat::Png)
                .unwrap();
        }
        out.into_inner()
    }

    fn decode(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory(bytes).unwrap()
    }

    #[test]
    fn thumbnails_keep_the_aspect_ratio_and_never_upscale() {
        let processed = process(&png(600, 300, false), "image/png", &THUMBNAIL_WIDTHS).unwrap();
        assert_eq!((processed.width, processed.height), (600, 300));
        let sizes: Vec<(u32, u32)> = processed
            .thumbnails
            .iter()
            .map(|t| (t.width, t.height))
            .collect();
        assert_eq!(sizes, [(160, 80), (480, 240), (600, 300)]);
        for thumb in &processed.thumbnails {
            assert_eq!(thumb.content_type, "image/jpeg");
            let decoded = decode(&thumb.bytes);
            assert_eq!(
                (decoded.width(), decoded.height()),
                (thumb.width, thumb.height)
            );
        }
    }

    #[test]
    fn transparent_images_get_lossless_webp_thumbnails() {
        let processed = process(&png(200, 100, true), "image/png", &THUMBNAIL_WIDTHS).unwrap();
        assert_eq!(
            processed.thumbnails.len(),
            2,
            "160 and 200 (480 and 1200 capped)"
        );
        let full = &processed.thumbnails[1];
        assert_eq!(full.content_type, "image/webp");
        let decoded = decode(&full.bytes).to_rgba8();
        // Lossless: the pixel at (10, 20) is the one drawn, alpha included.
        assert_eq!(decoded.get_pixel(10, 20), &Rgba([10, 20, 90, 128]));
    }

    #[test]
    fn text_and_mislabelled_images_are_rejected() {
        let text = b"definitely not an image, just some text".repeat(10);
        let Err(Rejection::Invalid(message)) = process(&text, "image/png", &THUMBNAIL_WIDTHS)
        else {
            panic!("text accepted")
        };
        assert!(message.contains("not a valid PNG"), "{message}");

        let Err(Rejection::Invalid(message)) =
            process(&png(20, 20, false), "image/jpeg", &THUMBNAIL_WIDTHS)
        else {
            panic!("PNG accepted as JPEG")
        };
        assert!(message.contains("is a PNG image"), "{message}");
    }

    #[test]
    fn a_truncated_png_is_rejected() {
        let bytes = png(64, 64, false);
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(
            process(cut, "image/png", &THUMBNAIL_WIDTHS),
            Err(Rejection::Invalid(_))
        ));
    }
}
