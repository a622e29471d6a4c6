//! The emails people receive. Each has a subject, a plain-text part and an HTML part.

/// Escapes text for HTML element content.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SMS carrying a code: short, with the service name, expiry and a warning.
pub fn sms_code(service: &str, code: &str, valid_minutes: i64) -> String {
    format!(
        "{code} is your {service} verification code. It expires in {valid_minutes} minutes. \
         Do not share it with anyone."
    )
}

/// The call reading a code digit by digit, twice.
pub fn voice_code(service: &str, code: &str) -> crate::ports::VoiceMessage {
    let spaced = code.chars().map(String::from).collect::<Vec<_>>().join(" ");
    let digits = format!("<say-as interpret-as=\"digits\">{}</say-as>", esc(code));
    crate::ports::VoiceMessage {
        ssml: format!(
            "<speak>Your {} verification code is <break time=\"300ms\"/>{digits}.\
             <break time=\"1s\"/>Again, your code is <break time=\"300ms\"/>{digits}.</speak>",
            esc(service)
        ),
        text: format!(
            "Your {service} verification code is {spaced}. Again, your code is {spaced}."
        ),
    }
}

/// Subject, text and HTML of the step-up code email.
pub fn step_up_code(service: &str, code: &str, valid_minutes: i64) -> (String, String, String) {
    let subject = format!("Your {service} verification code");
    let text = format!(
        "Your {service} verification code is: {code}\n\n\
         Enter it to confirm it is you before changing your security settings.\n\
         The code expires in {valid_minutes} minutes and works once.\n\n\
         If you did not ask for this code, someone may know your password: do not share the \
         code with anyone, change your password, and contact your administrator.\n"
    );
    let (s, c) = (esc(service), esc(code));
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Your {s} verification code is:</p>\
         <p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{c}</p>\
         <p>Enter it to confirm it is you before changing your security settings. \
         The code expires in {valid_minutes} minutes and works once.</p>\
         <p>If you did not ask for this code, someone may know your password: do not share \
         the code with anyone, change your password, and contact your administrator.</p>\
         </body></html>"
    );
    (subject, text, html)
}

/// Subject, text and HTML of the email carrying the code that confirms a self-service reset.
pub fn self_reset_code(service: &str, code: &str, valid_minutes: i64) -> (String, String, String) {
    let subject = format!("Confirm the reset of your {service} two-factor authentication");
    let warning = "If you did not ask for this, someone may know your password: do not share \
                   the code, change your password, and contact support.";
    let text = format!(
        "Someone signed in to your {service} account and asked to reset its two-factor \
         authentication because every method was lost.\n\n\
         Code: {code}\n\n\
         Entering it starts a waiting period; you will be emailed when it starts and when it \
         ends, and you can cancel it until then. The code expires in {valid_minutes} minutes.\n\n\
         {warning}\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Someone signed in to your {s} account and asked to reset its two-factor \
         authentication because every method was lost.</p>\
         <p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{c}</p>\
         <p>Entering it starts a waiting period; you will be emailed when it starts and when it \
         ends, and you can cancel it until then. The code expires in {valid_minutes} minutes.</p>\
         <p>{w}</p></body></html>",
        s = esc(service),
        c = esc(code),
        w = esc(warning),
    );
    (subject, text, html)
}

/// Text and HTML of a security notice: what happened, when, from where, what to do if not you.
pub fn notice(service: &str, opening: &str, when: &str, ip: &str) -> (String, String) {
    let text = format!(
        "{opening}\n\nWhen: {when}\nFrom IP address: {ip}\n\n\
         If this was you, no action is needed. If it was not, sign in to {service}, review your \
         two-factor settings, change your password, and contact your administrator.\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>{}</p><p>When: {}<br>From IP address: {}</p>\
         <p>If this was you, no action is needed. If it was not, sign in to {}, review your \
         two-factor settings, change your password, and contact your administrator.</p>\
         </body></html>",
        esc(opening),
        esc(when),
        esc(ip),
        esc(service)
    );
    (text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_reads_the_code_digit_by_digit_twice() {
        let m = voice_code("Console", "042917");
        assert_eq!(
            m.ssml
                .matches("<say-as interpret-as=\"digits\">042917</say-as>")
                .count(),
            2
        );
        assert!(m.ssml.starts_with("<speak>") && m.ssml.ends_with("</speak>"));
        assert_eq!(m.text.matches("0 4 2 9 1 7").count(), 2);
        assert!(sms_code("Console", "042917", 10).starts_with("042917 is your Console"));
    }

    #[test]
    fn step_up_email_carries_code_expiry_and_what_to_do_in_both_parts() {
        let (subject, text, html) = step_up_code("Acme <Console>", "042917", 10);
        assert_eq!(subject, "Your Acme <Console> verification code");
        for part in [&text, &html] {
            assert!(part.contains("042917"));
            assert!(part.contains("10 minutes"));
            assert!(part.contains("did not ask"));
        }
        assert!(html.contains("Acme &lt;Console&gt;") && !html.contains("<Console>"));
    }
}
