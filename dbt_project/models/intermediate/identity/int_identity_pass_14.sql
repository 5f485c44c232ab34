-- Identity label propagation, pass 14 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_13'), ref('int_identity_edges')) }}
