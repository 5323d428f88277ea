-- A notifier that rules still name cannot be deleted: the API answers 409 listing
-- those rules, where the cascade used to leave them sending nowhere and refused
-- by the API on their next edit. NO ACTION: checked when the statement ends.
ALTER TABLE rule_notifiers
    DROP CONSTRAINT rule_notifiers_notifier_id_fkey,
    ADD CONSTRAINT rule_notifiers_notifier_id_fkey
        FOREIGN KEY (notifier_id) REFERENCES notifiers (id);
