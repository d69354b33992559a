//! A short, human label for the device behind a User-Agent, for the session list.

/// "Firefox on Linux", "Safari on iOS", "curl"; `None` when nothing is recognised.
pub fn device_label(user_agent: &str) -> Option<String> {
    // Order matters: Edge and Chrome also claim "Safari"; Edge also claims "Chrome".
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("OPR/", "Opera"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests/", "python-requests"),
    ];
    // Android and iOS user agents also mention Linux and Mac OS X.
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS.iter().find(|(needle, _)| user_agent.contains(needle)).map(|(_, name)| *name);
    let system = SYSTEMS.iter().find(|(needle, _)| user_agent.contains(needle)).map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => Some(format!("{b} on {s}")),
        (Some(b), None) => Some(b.to_owned()),
        (None, Some(s)) => Some(s.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::device_label;

    #[test]
    fn common_user_agents() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl"),
        ];
        for (ua, label) in cases {
            assert_eq!(device_label(ua).as_deref(), Some(label), "{ua}");
        }
        assert_eq!(device_label("something"), None);
    }
}
