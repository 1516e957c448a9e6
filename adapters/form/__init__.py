"""The web form: Bitrix24 site-form webhooks and the project's own HTML form."""
