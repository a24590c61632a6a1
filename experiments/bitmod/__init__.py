"""BitMoD (HPCA 2025) reproduction: quantization study and accelerator experiment."""
