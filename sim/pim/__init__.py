"""Event-driven DRAM + processing-in-memory engine (AiM-style GDDR6) and the PIM-GPT ASIC."""
