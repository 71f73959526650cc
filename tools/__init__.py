"""Developer tools: a OneBot simulator and a bot launcher (`tools.onebot_sim`), the demo."""
