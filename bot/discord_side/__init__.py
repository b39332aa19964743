"""The Discord side that is not a cog: the bot's wiring, early acknowledgements, the publisher,
rendering, replies and the custom-id scheme. Imports jobs and domain, never cogs."""
