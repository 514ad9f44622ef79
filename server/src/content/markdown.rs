//! Markdown to HTML for content pages: CommonMark (with tables, strikethrough and task lists)
//! rendered by `pulldown-cmark`, then sanitized by `ammonia`, which keeps formatting, links and
//! images and removes scripts, event handlers, `style`, and `javascript:` URLs. Links get
//! `rel="noopener noreferrer"`.

use pulldown_cmark::{html, Options, Parser};

/// The sanitized HTML of a Markdown document.
pub fn to_safe_html(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    ammonia::clean(&raw)
}

#[cfg(test)]
mod tests {
    use super::to_safe_html;

    #[test]
    fn formatting_stays_scripts_go() {
        let html = to_safe_html(
            "# درباره ما\n\n**bold** [link](https://example.com) [bad](javascript:alert(1))\n\n\
             <script>alert('x')</script>\n\n<img src=\"/a.png\" onerror=\"alert(1)\">",
        );
        assert!(html.contains("<h1>درباره ما</h1>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }
}
