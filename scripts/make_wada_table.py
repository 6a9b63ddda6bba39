"""Regenerate the WADA-SNR lookup table in reconciler/audio/wada.py.

    python scripts/make_wada_table.py > /tmp/table.txt   # then paste it over _G_TABLE

WADA-SNR (Kim & Stern, "Robust signal-to-noise ratio estimation based on waveform amplitude distribution
analysis", Interspeech 2008) models clean speech amplitudes as Gamma-distributed with shape 0.4 and noise as
Gaussian. The statistic G = log(E|x|) - E[log|x|] of the noisy signal x depends only on the SNR, so a table of
G against SNR turns a measured G into an SNR estimate. This script computes that table by Monte Carlo from
the model itself (fixed seed, so the output is reproducible): 0.4094 for pure noise, log(0.4) - digamma(0.4)
= 1.6451 for pure speech, the published curve in between.
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.4  # shape of the Gamma distribution of speech amplitudes (the paper's value)
SAMPLES = 4_000_000
SNRS = range(-20, 101)


def table() -> list[float]:
    rng = np.random.default_rng(2008)
    speech = rng.gamma(ALPHA, 1.0, SAMPLES)
    noise = rng.standard_normal(SAMPLES)
    speech_power = ALPHA * (ALPHA + 1.0)  # E[s^2] of Gamma(alpha, 1)
    out = []
    for snr in SNRS:
        scale = np.sqrt(10.0 ** (snr / 10.0) / speech_power)
        # The sign of the speech sample does not matter: the noise is symmetric, so |s + n| ~ |-s + n|.
        x = np.abs(scale * speech + noise)
        out.append(float(np.log(x.mean()) - np.log(x).mean()))
    # Below about -10 dB the curve is flat to within the Monte Carlo error; keep it non-decreasing so it
    # can be inverted by interpolation.
    return list(np.maximum.accumulate(out))


def main() -> None:
    values = table()
    for i in range(0, len(values), 8):
        print("    " + " ".join(f"{v:.4f}," for v in values[i : i + 8]))


if __name__ == "__main__":
    main()
