-- Whose the Kafka topic of a row's name is (issue 18). NULL: activation has not tried to create
-- it yet. 'pending': an activation is creating it. 'created': StreamHub made it (or an admin let
-- it adopt one). 'foreign': it was in Kafka before StreamHub tried, and nobody allowed adopting
-- it: activation waits. 'adopt': an admin allowed adopting it.
ALTER TABLE topics ADD COLUMN kafka_claim TEXT
    CHECK (kafka_claim IN ('pending', 'created', 'foreign', 'adopt'));
UPDATE topics SET kafka_claim = 'created' WHERE activated_at IS NOT NULL;
