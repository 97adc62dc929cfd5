"""WeChat Official Account channel (issue 6). Loaded by `rasa run` from credentials.yml as
`bot.channels.wechat.WeChatInput`; configured from WECHAT_* environment variables. Modules by job:
config (environment), crypto (signatures, safe mode: wechatpy), xml (safe parsing; replies: wechatpy),
render (bot messages → WeChat text), api (wechatpy's client: one access_token shared in Redis, customer-service
messages), state (dedup and numbered options: in memory or Redis), channel (the webhook)."""

from bot.channels.wechat.channel import WeChatInput

__all__ = ["WeChatInput"]
