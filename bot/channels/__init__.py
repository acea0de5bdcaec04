"""Chat channels (Telegram, WhatsApp Cloud API): each only translates messages and buttons to and from the engine."""
