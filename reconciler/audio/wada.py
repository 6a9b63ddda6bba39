"""WADA-SNR: a blind estimate of a speech recording's signal-to-noise ratio from its amplitude distribution.

Kim & Stern (Interspeech 2008) model clean speech amplitudes as Gamma-distributed (shape 0.4) and noise as
Gaussian; the statistic G = log(E|x|) - E[log|x|] then depends on the SNR alone. `_G_TABLE` is G for SNRs
from -20 to 100 dB in 1 dB steps, computed from that model by `scripts/make_wada_table.py`. No maintained
library on PyPI implements this (snippets copy the paper's MATLAB table); the whole method is the table and
two lines of numpy.

Exact zeros are left out: digital silence between words (TTS output, a gated or edited recording) holds no
noise at all, and log(0) would swamp the statistic and make any such file look noise-free or, with the
customary epsilon, arbitrarily noisy.
"""

from __future__ import annotations

import numpy as np

_SNR_MIN, _SNR_MAX = -20.0, 100.0
# fmt: off
_G_TABLE = np.array([
    0.4095, 0.4095, 0.4095, 0.4096, 0.4097, 0.4098, 0.4101, 0.4104,
    0.4108, 0.4113, 0.4121, 0.4132, 0.4149, 0.4170, 0.4200, 0.4239,
    0.4284, 0.4344, 0.4419, 0.4510, 0.4616, 0.4743, 0.4889, 0.5054,
    0.5235, 0.5435, 0.5653, 0.5893, 0.6146, 0.6409, 0.6681, 0.6963,
    0.7250, 0.7541, 0.7834, 0.8129, 0.8419, 0.8712, 0.8999, 0.9283,
    0.9562, 0.9836, 1.0102, 1.0359, 1.0608, 1.0852, 1.1087, 1.1315,
    1.1532, 1.1744, 1.1947, 1.2145, 1.2332, 1.2511, 1.2684, 1.2849,
    1.3008, 1.3160, 1.3306, 1.3446, 1.3580, 1.3709, 1.3832, 1.3948,
    1.4060, 1.4169, 1.4271, 1.4369, 1.4463, 1.4552, 1.4637, 1.4719,
    1.4798, 1.4871, 1.4942, 1.5010, 1.5075, 1.5138, 1.5198, 1.5254,
    1.5309, 1.5361, 1.5411, 1.5458, 1.5504, 1.5546, 1.5587, 1.5626,
    1.5663, 1.5699, 1.5734, 1.5767, 1.5798, 1.5828, 1.5858, 1.5885,
    1.5911, 1.5936, 1.5959, 1.5982, 1.6004, 1.6025, 1.6044, 1.6063,
    1.6081, 1.6099, 1.6115, 1.6131, 1.6147, 1.6161, 1.6175, 1.6188,
    1.6201, 1.6212, 1.6224, 1.6234, 1.6245, 1.6255, 1.6264, 1.6273,
    1.6281,
])
# fmt: on
_SNRS = np.arange(_SNR_MIN, _SNR_MAX + 1.0)


def wada_snr(samples: np.ndarray) -> float | None:
    """Estimated SNR in dB (clamped to -20..100) of float samples; None when there is no non-zero sample."""
    x = np.abs(samples[samples != 0]).astype(np.float64)
    if x.size == 0:
        return None
    g = float(np.log(x.mean()) - np.log(x).mean())
    return float(np.interp(g, _G_TABLE, _SNRS))
