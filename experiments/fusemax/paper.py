"""The FuseMax paper's numbers (Nayak et al., MICRO 2024, arXiv 2406.10491), gathered
in /work/shared/reference/fusemax-tables.md from Figs. 6-11 and the authors' artifact:
what this experiment is compared with, never an input to it."""

SEQS = ("1K", "4K", "16K", "64K", "256K", "1M")

HEADLINE = {  # arithmetic means over the 24 model x length points
    "attention_speedup_vs_flat": 6.7,
    "attention_energy_ratio_vs_flat": 0.79,
    "e2e_speedup_vs_flat": 5.3,
    "e2e_energy_ratio_vs_flat": 0.83,
    "attention_speedup_vs_unfused": 10.05,
    "attention_energy_ratio_vs_unfused": 0.767,
    "e2e_speedup_vs_unfused": 7.60,
    "e2e_energy_ratio_vs_unfused": 0.821,
}

_BERT_ATTN = [(6.65, .785), (7.21, .777), (7.37, .775), (7.41, .752), (8.57, .757), (8.57, .737)]
ATTN_VS_FLAT = {  # model -> [(speedup, energy ratio)] per sequence length
    "BERT": _BERT_ATTN, "TrXL": _BERT_ATTN[:4] + [(8.57, .737), (8.57, .737)],
    "T5": _BERT_ATTN[:4] + [(8.57, .759), (8.57, .737)],
    "XLM": [(3.44, .880), (3.74, .869), (3.82, .871), (3.84, .856), (4.58, .846), (4.58, .846)],
}
E2E_VS_FLAT = {
    "BERT": [(2.19, .934), (4.08, .869), (6.06, .811), (7.02, .763), (8.45, .760), (8.54, .738)],
    "TrXL": [(1.94, .944), (3.64, .884), (5.73, .820), (6.90, .767), (8.41, .741), (8.53, .738)],
    "T5": [(2.57, .919), (4.65, .850), (6.40, .800), (7.13, .760), (8.49, .761), (8.55, .738)],
    "XLM": [(1.22, .973), (1.72, .950), (2.64, .914), (3.41, .874), (4.43, .851), (4.54, .847)],
}
UTIL_2D = {  # Fig. 6b, BERT (TrXL, T5 equal) and XLM
    "BERT": {"flat": [.125, .125, .125, .125, .108, .108],
             "fusemax": [.890, .965, .986, .991, .992, .993]},
    "XLM": {"flat": [.250, .250, .250, .250, .210, .210],
            "fusemax": [.889, .967, .989, .994, .996, .996]},
}
UTIL_1D = {  # Fig. 6a
    "BERT": {"flat": [1, 1, 1, 1, .865, .865], "fusemax": [1] * 6},
    "XLM": {"flat": [1, 1, 1, 1, .840, .840], "fusemax": [1] * 6},
}
