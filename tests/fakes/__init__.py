"""Real protocol peers for the notifier's tests: a Twilio-shaped HTTP API, an SMTP server
and a Web Push endpoint, each listening on a free loopback port."""
