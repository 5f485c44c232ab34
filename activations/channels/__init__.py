"""Channel clients: one module per provider, and the only place each provider SDK is imported.

- `email.py`: SendGrid (official `sendgrid` SDK)
- `sms.py`: Twilio (official `twilio` SDK)
- `meta.py`: Meta Custom Audience (Graph API users endpoint, plain HTTP)
- `google_ads.py`: Google Ads Customer Match upload file
- `hashing.py`: normalise-then-SHA-256 rules of both ad platforms (pure)
"""
