"""The Discord side that is not a cog: the bot's wiring, early acknowledgements, the publisher,
rendering, replies, attachments read from a command, and the custom-id scheme. Imports jobs and
domain, never cogs."""
