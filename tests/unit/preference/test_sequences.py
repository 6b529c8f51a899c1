"""Encoding prompt/completion records, padding, and completion log-probabilities."""

import pytest
import torch

from assay.agents.policy import token_logprobs
from assay.agents.preference.sequences import collate, completion_logps, encode


def test_encode_appends_eos_and_cuts_the_completion(tiny):
    _, tok = tiny
    e = encode(tok, "1+2=", "3")
    assert e.prompt_len == 4 and e.completion_len == 2
    assert e.ids[-1] == tok.eos_token_id
    assert tok.decode(list(e.ids[:4])) == "1+2="
    cut = encode(tok, "1+2=", "3456", max_length=6)
    assert cut.ids == e.ids[:4] + tuple(tok("34", add_special_tokens=False)["input_ids"])
    assert encode(tok, "1+2=", "3", add_eos=False).completion_len == 1
    with pytest.raises(ValueError, match="no room"):
        encode(tok, "1+2=", "3", max_length=4)
    with pytest.raises(ValueError, match="empty completion"):
        encode(tok, "1+2=", "", add_eos=False)
    with pytest.raises(ValueError, match="empty prompt"):
        encode(tok, "", "3")


def test_collate_masks_only_completion_targets(tiny):
    _, tok = tiny
    a, b = encode(tok, "ab", "c"), encode(tok, "abcd", "ef")
    batch = collate([a, b], pad_id=tok.pad_token_id)
    assert batch.input_ids.shape == (2, 7) and len(batch) == 2
    # row 0: ids a b c <eos> pad pad pad; targets at positions 1..: b c <eos> -> c and <eos> count
    assert batch.loss_mask[0].tolist() == [0, 1, 1, 0, 0, 0]
    assert batch.loss_mask[1].tolist() == [0, 0, 0, 1, 1, 1]
    assert batch.attention_mask[0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    full = collate([a], pad_id=tok.pad_token_id, completion_only=False)
    assert full.loss_mask[0].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="no sequences"):
        collate([], pad_id=0)


def test_completion_logps_match_token_logprobs_and_ignore_padding(tiny):
    model, tok = tiny
    a, b = encode(tok, "1+2=", "3"), encode(tok, "12+20=", "32andmore?")
    alone = collate([a], tok.pad_token_id)
    with torch.no_grad():
        lp = token_logprobs(model, alone.input_ids, alone.attention_mask)
        total, count = completion_logps(model, alone)
        padded_total, padded_count = completion_logps(model, collate([a, b], tok.pad_token_id))
    assert count.tolist() == [2.0]
    assert total.item() == pytest.approx(lp[0, 3:5].sum().item(), abs=1e-5)
    assert padded_total[0].item() == pytest.approx(total.item(), abs=1e-4)
    assert padded_count.tolist() == [2.0, 11.0]
